"""Benchmarks of the simulator (issue 4), each in a fresh process, measured, not asserted.

(a) one ddpm-cifar10 evaluation, (b) the full 100-step ddpm-cifar10 DDIM loop with per-step sparsity,
(c) one sd15-unet evaluation — all on the `sqdm` machine with a synthetic profile (des/defaults.yaml).
Reports wall time of the simulation, peak resident memory of the process, SimPy events scheduled and
events per node-step (a node reused from an earlier step costs one event), and busy intervals recorded. Run: ``python bench/bench_sim.py [--hw sqdm]``.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CASES = {"a": ("ddpm-cifar10", 1), "b": ("ddpm-cifar10", 100), "c": ("sd15-unet", 1)}


def one(case: str, hw: str) -> dict:
    from des.run import RunSpec, resolve_run
    from des import simulate
    model, steps = CASES[case]
    t0 = time.perf_counter()
    g, hwc, prof, steps = resolve_run(RunSpec(hw=hw, workload=model, steps=steps))
    t1 = time.perf_counter()
    r = simulate(g, hwc, steps=steps, profile=prof, progress=False)
    t2 = time.perf_counter()
    node_steps = g.number_of_nodes() * steps
    return {"case": case, "model": model, "hw": hw, "steps": steps, "prepare_s": round(t1 - t0, 2),
            "simulate_s": round(t2 - t1, 2), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "events": r.events, "events_per_node_step": round(r.events / node_steps, 2), "intervals": r.intervals,
            "total_cycles": r.total_cycles, "gmac": round(r.macs["graph_macs"] / 1e9, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hw", default="sqdm")
    ap.add_argument("--one", default=None)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.hw)))
        return
    print("| case | model | steps | prepare (s) | simulate (s) | peak RSS (MB) | SimPy events | events per node-step | busy intervals | GMAC simulated |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in CASES:
        r = json.loads(subprocess.run([sys.executable, __file__, "--one", case, "--hw", a.hw], check=True,
                                      capture_output=True, text=True).stdout)
        print(f"| ({case}) | {r['model']} | {r['steps']} | {r['prepare_s']} | {r['simulate_s']} | {r['peak_rss_mb']} | "
              f"{r['events']} | {r['events_per_node_step']} | {r['intervals']} | {r['gmac']} |")


if __name__ == "__main__":
    main()
