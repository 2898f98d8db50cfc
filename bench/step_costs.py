"""Where a sampling loop's simulation time goes (issue 9), by wall clock, measured, not asserted.

Runs one simulation through the Python API (the graph and plans from the prepared cache when it has them, as
``sqdm simulate`` does) with timers wrapped around the engine's per-step parts, and prints the seconds and the
share of the simulation each took:

* the wrong-label cost (:meth:`des.engine.StepDriver._label_cost`): the oracle's placement (labels and split
  from the step's true zero fractions, placed a block of steps at a time), its tiles and its closed form;
* the step's own tiles (:func:`des.work.tile_works` outside the oracle) and placement;
* the counters of each node-step (:meth:`des.engine.StepDriver._count`);
* the timing signature that decides whether an earlier step's schedule is reused;
* the schedules simulated as SimPy events (:meth:`des.machine.Machine.run_tiles`, only those not reused) and the
  fast-forward's accounting;
* the detector: labels (``assess``) and zero counts (``_count_zeros``);
* the rest: the driver, the accumulator and SimPy's own loop (the simulation's time is ``Report.wall_seconds``:
  from the start of :func:`des.simulate` to the report, which is not in it).

Wrapping costs a few microseconds per call, so the parts add up to a little more than an unwrapped run. The
reference loop (10^7 Python additions) is printed first: this machine's speed varies several-fold.
Run: ``python bench/step_costs.py [--hw sqdm] [--workload ddpm-cifar10] [--steps 100]``.
"""
from __future__ import annotations

import argparse
import functools
import time

from reference import python_loop_seconds  # bench/ is the script's folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default="sqdm")
    ap.add_argument("--workload", default="ddpm-cifar10")
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    loop_s = python_loop_seconds()

    import des.engine as engine
    import des.machine as machine
    from components import SparsityDetector
    from des.run import RunSpec, run

    seconds: dict[str, float] = {}
    inside: list[str] = []  # the part whose timer runs (nested parts are charged to the innermost)

    def timed(owner, name: str, part: str, generator: bool = False) -> None:
        original = getattr(owner, name)

        def charge(t0: float) -> None:
            seconds[part] = seconds.get(part, 0.0) + time.perf_counter() - t0

        if generator:  # a SimPy process body: time from its first step to its return (nothing else runs between)
            @functools.wraps(original)
            def gen(*a, **k):
                t0 = time.perf_counter()
                r = yield from original(*a, **k)
                charge(t0)
                return r
            setattr(owner, name, gen)
            return

        @functools.wraps(original)
        def f(*a, **k):
            label = part
            if part in ("tiles", "closed form"):  # the oracle's, or the step's own
                oracle = bool(inside) and inside[-1] == "wrong-label cost"
                label = f"wrong-label cost: {part}" if oracle else \
                    {"tiles": "own tiles", "closed form": "own closed form (new schedules)"}[part]
            inside.append(label)
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                inside.pop()
                seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - t0
        setattr(owner, name, f)

    timed(engine.StepDriver, "_label_cost", "wrong-label cost")
    timed(engine.StepDriver, "_oracle", "wrong-label cost: placement")
    timed(engine, "analytical_node_cycles", "closed form")
    timed(engine, "tile_works", "tiles")
    timed(engine.StepDriver, "_place", "own placement")
    timed(engine.StepDriver, "_count", "counters")
    timed(engine.TimingMemo, "key", "timing signature")
    timed(machine.Machine, "run_tiles", "simulated schedules (SimPy)", generator=True)
    timed(engine.StepDriver, "_fast_forward", "fast-forward accounting", generator=True)
    timed(SparsityDetector, "assess", "detector labels")
    timed(engine.StepDriver, "_count_zeros", "detector counts", generator=True)

    t0 = time.perf_counter()
    rep = run(RunSpec(hw=args.hw, workload=args.workload, steps=args.steps), progress=False)
    total = rep.wall_seconds
    print(f"reference loop {loop_s:.2f} s; {args.workload} on {args.hw}, {args.steps} steps: simulate "
          f"{total:.2f} s (with preparation {time.perf_counter() - t0:.2f} s), {rep.events:,} SimPy events")
    # nested parts: the oracle's placement, tiles and closed form are inside the wrong-label cost
    nested = {"wrong-label cost": ("wrong-label cost: placement", "wrong-label cost: tiles",
                                   "wrong-label cost: closed form")}
    flat = dict(seconds)
    for outer, parts in nested.items():
        flat[outer + ": other"] = flat.pop(outer, 0.0) - sum(flat.get(p, 0.0) for p in parts)
    flat["the rest (driver, accumulator, SimPy loop)"] = total - sum(flat.values())
    print("| part | s | share |\n|---|---|---|")
    for part, s in sorted(flat.items(), key=lambda kv: -kv[1]):
        print(f"| {part} | {s:.2f} | {100 * s / total:.0f}% |")


if __name__ == "__main__":
    main()
