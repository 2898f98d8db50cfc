"""Benchmarks of the simulator (issue 4; cache rows: issue 9), each in a fresh process, measured, not asserted.

(a) one ddpm-cifar10 evaluation, (b) the full 100-step ddpm-cifar10 DDIM loop with per-step sparsity,
(c) one sd15-unet evaluation — all on the `sqdm` machine with a synthetic profile (des/defaults.yaml).
Each case runs twice against its own empty prepared-graph cache (``SQDM_CACHE_DIR`` = a temporary folder,
never the user's): *cold* (the graph is extracted, annotated and stored) and *warm* (read back; no torch).
Reports the import time of the simulator, the time to prepare the run (graph, policy, hardware, profile),
the simulation's wall time, peak resident memory of the process (``ru_maxrss``), whether torch was loaded,
SimPy events scheduled and events per node-step (a node reused from an earlier step costs one event), and
busy intervals recorded. Run: ``python bench/bench_sim.py [--hw sqdm] [--cases ab]``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

CASES = {"a": ("ddpm-cifar10", 1), "b": ("ddpm-cifar10", 100), "c": ("sd15-unet", 1)}


def one(case: str, hw: str) -> dict:
    t_import = time.perf_counter()
    from des import simulate
    from des.run import RunSpec, resolve_run
    model, steps = CASES[case]
    t0 = time.perf_counter()
    g, hwc, prof, steps = resolve_run(RunSpec(hw=hw, workload=model, steps=steps))
    t1 = time.perf_counter()
    r = simulate(g, hwc, steps=steps, profile=prof, progress=False)
    t2 = time.perf_counter()
    node_steps = g.number_of_nodes() * steps
    return {"case": case, "model": model, "hw": hw, "steps": steps, "import_s": round(t0 - t_import, 2),
            "prepare_s": round(t1 - t0, 2), "simulate_s": round(t2 - t1, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "torch": "torch" in sys.modules,
            "events": r.events, "events_per_node_step": round(r.events / node_steps, 2), "intervals": r.intervals,
            "total_cycles": r.total_cycles, "gmac": round(r.macs["graph_macs"] / 1e9, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hw", default="sqdm")
    ap.add_argument("--cases", default="".join(CASES), help="which cases to run (letters of CASES)")
    ap.add_argument("--one", default=None)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.hw)))
        return
    print("| case | model | steps | cache | import (s) | prepare (s) | simulate (s) | peak RSS (MB) | torch loaded | "
          "SimPy events | events per node-step | busy intervals | GMAC simulated |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in a.cases:
        with tempfile.TemporaryDirectory(prefix="sqdm-bench-cache-") as cache:
            env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
            env["SQDM_CACHE_DIR"] = cache
            for state in ("cold", "warm"):
                r = json.loads(subprocess.run([sys.executable, __file__, "--one", case, "--hw", a.hw], check=True,
                                              capture_output=True, text=True, env=env).stdout)
                print(f"| ({case}) | {r['model']} | {r['steps']} | {state} | {r['import_s']} | {r['prepare_s']} | "
                      f"{r['simulate_s']} | {r['peak_rss_mb']} | {'yes' if r['torch'] else 'no'} | {r['events']} | "
                      f"{r['events_per_node_step']} | {r['intervals']} | {r['gmac']} |", flush=True)


if __name__ == "__main__":
    main()
