"""Sweep throughput: the same sweep on 1 and on 2 worker processes (and optionally dask), speed-up reported.

    python bench/bench_sweep.py                   # 32 points of tiny-digits x 6 steps, workers 1 and 2
    python bench/bench_sweep.py --points 64 --steps 4 --dask

Each configuration runs into a fresh store (nothing is skipped), from the start of the pool to the last
commit, worker start-up (imports, graph building per worker) included. The machine's speed is measured at
the same moments by a plain 10**7-iteration Python loop (before and after), so numbers taken on a busy
machine can be compared by ratio; the CPU the workers got (cores on average) and how busy the whole machine
was (/proc/stat: every process, other users' included) are printed too, so a speed-up lost to other jobs shows
as such. The results of every configuration must be identical (checked).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference import python_loop_seconds  # noqa: E402 - bench/ is the script's folder


def _proc_stat() -> tuple[int, int] | None:
    """(all jiffies, idle jiffies) of the machine from /proc/stat (Linux), or None."""
    try:
        v = list(map(int, open("/proc/stat").readline().split()[1:]))
    except (OSError, ValueError):
        return None
    return sum(v), v[3] + v[4]


def machine_busy_cores(a, b, wall: float) -> float:
    """Cores busy on the whole machine between two _proc_stat() samples (every process, not only ours)."""
    if a is None or b is None or wall <= 0:
        return float("nan")
    hz = os.sysconf("SC_CLK_TCK")
    return ((b[0] - a[0]) - (b[1] - a[1])) / hz / wall


def scenario(points: int, steps: int):
    from des.scenario import parse_scenario
    bws = [12.8, 25.6, 51.2, 102.4, 204.8, 409.6, 819.2, 1638.4]
    thresholds = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    per = max(1, -(-points // len(bws)))
    doc = {"format": "sqdm-scenario", "format_version": 1, "name": "bench",
           "run": {"hw": "sqdm", "workload": "tiny-digits", "steps": steps},
           "sweep": [{"grid": {"hardware.dram.bandwidth_gbytes_per_s": bws}},
                     {"grid": {"hardware.detector.threshold": thresholds[:per]}}]}
    pts = parse_scenario(doc, "bench").points()[:points]
    return pts


def pool_of_loops(workers: int, tasks: int = 4) -> float:
    """Wall time of ``tasks`` 10**7-iteration loops on a pool of ``workers`` (the pool alone, no simulator)."""
    from concurrent.futures import ProcessPoolExecutor

    from des.sweep import _mp_context
    with ProcessPoolExecutor(workers, mp_context=_mp_context(False)) as ex:
        t0 = time.perf_counter()
        list(ex.map(python_loop_seconds, [10**7] * tasks))
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=32)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--dask", action="store_true", help="also run on a dask LocalCluster of the largest worker count")
    args = ap.parse_args()
    from des.sweep import run_points
    ref0 = python_loop_seconds()
    pts = scenario(args.points, args.steps)
    print(f"{len(pts)} points: tiny-digits, {args.steps} steps, sqdm with DRAM bandwidth x detector threshold; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    print(f"reference: 10**7-iteration Python loop {ref0:.2f} s (before)")
    runs = [(f"{w} worker process(es)", dict(workers=w)) for w in args.workers]
    if args.dask:
        runs.append((f"dask LocalCluster, {max(args.workers)} worker(s)", dict(dask="local", workers=max(args.workers))))
    times, frames = {}, {}
    with tempfile.TemporaryDirectory() as d:
        for i, (name, kw) in enumerate(runs):
            t0, st0 = time.perf_counter(), _proc_stat()
            df = run_points(pts, Path(d) / f"s{i}.sqlite", progress=False, **kw)
            times[name] = time.perf_counter() - t0
            busy = machine_busy_cores(st0, _proc_stat(), times[name])
            frames[name] = df
            ok = int((df["status"] == "ok").sum())
            sim = df["point_wall_seconds"].sum()
            cpu = df["cpu_seconds"].sum()
            print(f"  {name:<34} {times[name]:7.2f} s wall  ({ok}/{len(df)} ok; workers: {sim:.1f} s of point time, "
                  f"{cpu:.1f} s of CPU = {cpu / times[name]:.2f} cores on average; the machine: {busy:.2f} cores busy)")
    ref1 = python_loop_seconds()
    print(f"reference: 10**7-iteration Python loop {ref1:.2f} s (after)")
    loops = {w: pool_of_loops(w) for w in (1, 2)}
    print(f"reference: 4 such loops on a pool of 1 / 2 workers: {loops[1]:.2f} / {loops[2]:.2f} s = "
          f"{loops[1] / loops[2]:.2f}x (what this machine gives two processes right now)")
    host = {"wall_seconds", "cpu_seconds", "point_wall_seconds", "worker", "finished_utc", "versions"}
    base_name = runs[0][0]
    base = frames[base_name].drop(columns=[c for c in host if c in frames[base_name]]).sort_values("hash")
    for name, df in frames.items():
        same = base.reset_index(drop=True).equals(df.drop(columns=[c for c in host if c in df]).sort_values("hash")
                                                  .reset_index(drop=True))
        print(f"  {name:<34} results identical to {base_name}: {same}")
    for name, t in times.items():
        if name != base_name:
            print(f"speed-up of {name} over {base_name}: {times[base_name] / t:.2f}x")


if __name__ == "__main__":
    main()
