"""Start-up of ``sqdm simulate`` with a cold and a warm prepared-graph cache (issue 9), measured, not asserted.

Runs, each in a fresh process against a temporary cache folder (``SQDM_CACHE_DIR``, never the user's):

* the reference loop (10^7 Python additions: this machine's speed varies several-fold with its neighbours, so
  compare the other rows with it), and a bare interpreter (``python -c pass``);
* the command itself (default ``sqdm simulate --hw sqdm --workload ddpm-cifar10 --steps 100``): wall time with
  an empty cache (cold), again (warm), and with ``--no-cache``;
* the same run through the CLI's own pieces with a breakdown: imports and the argument parser, preparing the run
  (graph from the cache or built, hardware, profile), the simulation, the summary; peak RSS; which heavy
  packages were loaded.

Run: ``python bench/bench_startup.py [--workload M] [--steps N]``.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "diffusers", "quant", "pandas", "matplotlib", "sklearn", "scipy")
LOOP = "s = 0\nfor i in range(10**7):\n    s += i\n"


def breakdown(argv: list[str]) -> dict:
    """One CLI run, timed in parts (same steps as ``des.cli.main`` + ``des.cmd_sim``)."""
    t0 = time.perf_counter()
    import resource

    import des.cli
    lazy = "command" in inspect.signature(des.cli.build_parser).parameters
    parser = des.cli.build_parser("simulate") if lazy else des.cli.build_parser()
    args = parser.parse_args(["simulate", *argv])
    from des.cmd_sim import format_summary
    from des.engine import simulate
    from des.run import RunSpec, resolve_run
    t1 = time.perf_counter()
    spec = RunSpec(hw=args.hw, workload=args.workload, policy=args.policy, steps=args.steps,
                   use_cache=args.use_cache)
    g, hw, prof, steps = resolve_run(spec)
    t2 = time.perf_counter()
    r = simulate(g, hw, steps=steps, profile=prof, progress=False)
    t3 = time.perf_counter()
    format_summary(r)
    t4 = time.perf_counter()
    return {"imports_and_parser_s": t1 - t0, "prepare_s": t2 - t1, "simulate_s": t3 - t2, "summary_s": t4 - t3,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "heavy": [m for m in HEAVY if m in sys.modules], "lazy_parser": lazy}


def _wall(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="ddpm-cifar10")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--breakdown", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.breakdown is not None:
        print(json.dumps(breakdown(json.loads(a.breakdown))))
        return
    sqdm = shutil.which("sqdm", path=str(Path(sys.executable).parent)) or shutil.which("sqdm")
    argv = ["--hw", "sqdm", "--workload", a.workload, "--steps", str(a.steps)]
    print(f"command: sqdm simulate {' '.join(argv)}\n")
    print("| measurement | wall (s) |")
    print("|---|---|")
    with tempfile.TemporaryDirectory(prefix="sqdm-bench-cache-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        env["SQDM_CACHE_DIR"] = cache
        rows = [("reference loop (10^7 additions)", [sys.executable, "-c", LOOP]),
                ("python -c pass", [sys.executable, "-c", "pass"]),
                ("cold cache", [sqdm, "simulate", *argv]),
                ("warm cache", [sqdm, "simulate", *argv]),
                ("--no-cache", [sqdm, "simulate", *argv, "--no-cache"]),
                ("reference loop again", [sys.executable, "-c", LOOP])]
        for name, cmd in rows:
            print(f"| {name} | {_wall(cmd, env):.2f} |", flush=True)
        print("\n| cache | imports + parser (s) | prepare (s) | simulate (s) | summary (s) | peak RSS (MB) | "
              "heavy packages loaded |")
        print("|---|---|---|---|---|---|---|")
        shutil.rmtree(cache)
        os.mkdir(cache)
        for state, extra in (("cold", []), ("warm", []), ("off (--no-cache)", ["--no-cache"])):
            out = subprocess.run([sys.executable, __file__, "--breakdown", json.dumps(argv + extra)], check=True,
                                 capture_output=True, text=True, env=env).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"| {state} | {r['imports_and_parser_s']:.2f} | {r['prepare_s']:.2f} | {r['simulate_s']:.2f} | "
                  f"{r['summary_s']:.2f} | {r['peak_rss_mb']:.0f} | {', '.join(r['heavy']) or '-'} |", flush=True)
        if not r["lazy_parser"]:
            print("\n(des.cli.build_parser configures every subcommand: the quant commands' parsers import torch)")


if __name__ == "__main__":
    main()
