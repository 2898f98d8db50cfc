"""Benchmarks of the simulator (issue 4; cache rows: issue 9), each in a fresh process, measured, not asserted.

(a) one ddpm-cifar10 evaluation, (b) the full 100-step ddpm-cifar10 DDIM loop with per-step sparsity,
(c) one sd15-unet evaluation, (d) a 50-step sd15-unet loop with per-step sparsity — all on the `sqdm`
machine with a synthetic profile (des/defaults.yaml), in one process — and (e), (f): (b) and (d) with the
steps shared by two processes (``simulate(jobs=2)``, :mod:`des.parallel`; their peak memory is an upper
bound: the parent's peak plus the largest worker's once per worker).
Each case runs twice against its own empty cache (``SQDM_CACHE_DIR`` = a temporary folder, never the
user's): *cold* (the graph is extracted, annotated and stored; the tiling plans searched and stored) and
*warm* (both read back; no torch, no tiling search), as ``sqdm simulate`` runs.
Reports the import time of the simulator, the time to prepare the run (graph, policy, hardware, profile),
the simulation's wall time, peak resident memory of the process (``ru_maxrss``), whether torch was loaded,
SimPy events scheduled and events per node-step (a node reused from an earlier step costs one event), and
busy intervals recorded. The one-evaluation cases also run with fast-forward off (events before/after the
steady-state fast-forward). Each process first times a plain 10**7-iteration Python loop: this machine's
speed varies several-fold with its neighbours, so compare times by that reference.
Run: ``python bench/bench_sim.py [--hw sqdm] [--cases abcdef]``.
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

from reference import python_loop_seconds  # bench/ is the script's folder

# case -> (model, steps, processes sharing the steps); (e) and (f) are (b) and (d) with two processes
CASES = {"a": ("ddpm-cifar10", 1, 1), "b": ("ddpm-cifar10", 100, 1), "c": ("sd15-unet", 1, 1),
         "d": ("sd15-unet", 50, 1), "e": ("ddpm-cifar10", 100, 2), "f": ("sd15-unet", 50, 2)}


def one(case: str, hw: str) -> dict:
    loop_s = python_loop_seconds()
    t_import = time.perf_counter()
    from des import simulate
    from des.run import RunSpec, resolve_run
    model, steps, jobs = CASES[case]
    t0 = time.perf_counter()
    g, hwc, prof, steps = resolve_run(RunSpec(hw=hw, workload=model, steps=steps))
    t1 = time.perf_counter()
    r = simulate(g, hwc, steps=steps, profile=prof, progress=False, plan_cache=True, jobs=jobs)
    t2 = time.perf_counter()
    node_steps = g.number_of_nodes() * steps
    peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if jobs > 1:  # an upper bound: the parent's peak plus the largest worker's for each worker (shared pages
        # counted in each)
        peak_mb += jobs * round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    events_off = (simulate(g, hwc, steps=steps, profile=prof, progress=False, fast_forward=False).events
                  if steps == 1 else None)  # after the peak was read
    return {"case": case, "model": model, "hw": hw, "steps": steps, "jobs": jobs, "loop_s": round(loop_s, 2),
            "import_s": round(t0 - t_import, 2), "prepare_s": round(t1 - t0, 2), "simulate_s": round(t2 - t1, 2),
            "peak_rss_mb": peak_mb, "torch": "torch" in sys.modules,
            "events": r.events, "events_per_eval": round(r.events / steps),
            "events_per_node_step": round(r.events / node_steps, 2), "events_ff_off": events_off,
            "intervals": r.intervals, "total_cycles": r.total_cycles, "gmac": round(r.macs["graph_macs"] / 1e9, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hw", default="sqdm")
    ap.add_argument("--cases", default="".join(CASES), help="which cases to run (letters of CASES)")
    ap.add_argument("--one", default=None)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.hw)))
        return
    print("| case | model | steps | processes | cache | 10**7 loop (s) | import (s) | prepare (s) | simulate (s) | peak RSS (MB) | "
          "torch loaded | SimPy events | events per evaluation | events per node-step | events, fast-forward off | "
          "busy intervals | GMAC simulated |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in a.cases:
        with tempfile.TemporaryDirectory(prefix="sqdm-bench-cache-") as cache:
            env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
            env["SQDM_CACHE_DIR"] = cache
            for state in ("cold", "warm"):
                r = json.loads(subprocess.run([sys.executable, __file__, "--one", case, "--hw", a.hw], check=True,
                                              capture_output=True, text=True, env=env).stdout)
                off = "" if r["events_ff_off"] is None else r["events_ff_off"]
                print(f"| ({case}) | {r['model']} | {r['steps']} | {r['jobs']} | {state} | {r['loop_s']} | {r['import_s']} | "
                      f"{r['prepare_s']} | {r['simulate_s']} | {r['peak_rss_mb']} | {'yes' if r['torch'] else 'no'} | "
                      f"{r['events']} | {r['events_per_eval']} | {r['events_per_node_step']} | {off} | "
                      f"{r['intervals']} | {r['gmac']} |", flush=True)


if __name__ == "__main__":
    main()
