"""A sampling loop simulated by several processes at once: the steps split into consecutive ranges.

Each node starts on a drained machine (:mod:`des.engine`), so a range of steps run alone, from cycle 0,
takes the cycles it takes inside the whole loop; the only state that crosses steps is the detector's
labels, which a range resumes from the last accepted update before it
(:meth:`des.engine.SamplingLoop.run_range`). The ranges run in forked processes (they inherit the prepared
loop: nothing large is pickled on the way in); the parent puts their records end to end
(:meth:`des.engine.ReportAccumulator.merge`), each shifted by the cycles of the ranges before it.

The merged record is the one process's: the totals are added again in the order one process adds them
(each range logs its additions), and a range after the first first runs the two steps before it
unrecorded, so its replay cache holds what the whole loop's holds by then and it replays the same
segments. Cycle times are shifted by the cycles of the ranges before it: to the bit where event times
are exact binary fractions (every shipped machine's are; tests compare every report field with one
process's), else to the rounding of one addition. Only ``Report.events`` differs (the warm-up steps and
each range's first simulation of its step-independent nodes). A platform that cannot fork runs the loop
in one process.
"""
from __future__ import annotations

import multiprocessing
import os
import signal

from .engine import ReportAccumulator, SamplingLoop

__all__ = ["MIN_RANGE_STEPS", "run_in_ranges", "step_ranges", "usable_cores"]

# the loop and the shared step counter of the run in progress, inherited by the forked workers
_LOOP: SamplingLoop | None = None
_DONE = None


# A range after the first also runs the two steps before it (to warm its replay cache as the whole loop
# would have), so a range shorter than this costs more than it saves.
MIN_RANGE_STEPS = 8


def usable_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def step_ranges(steps: int, jobs: int) -> list[tuple[int, int]]:
    """At most ``jobs`` consecutive ranges covering ``range(steps)``, each at least :data:`MIN_RANGE_STEPS`
    long (one range when the run is shorter), their sizes differing by at most one."""
    n = max(1, min(jobs, steps // MIN_RANGE_STEPS))
    bounds = [round(k * steps / n) for k in range(n + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:])]


class _StepTicks:
    """The progress "bar" a worker's driver updates: a counter the parent reads."""

    def update(self, n: int = 1) -> None:
        with _DONE.get_lock():
            _DONE.value += n


def _ignore_interrupt() -> None:
    """Workers leave Ctrl-C to the parent, which stops them (no traceback from each worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(bounds: tuple[int, int]):
    return _LOOP.run_range(*bounds, _StepTicks(), log=True)


def run_in_ranges(loop: SamplingLoop, jobs: int, bar=None) -> tuple[ReportAccumulator, float, int]:
    """Simulate ``loop`` with ``jobs`` processes; returns the merged
    record, the total cycles and the SimPy events of all processes, as ``loop.run_range(0, steps)`` does."""
    global _LOOP, _DONE
    ranges = step_ranges(loop.steps, jobs)
    if len(ranges) == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return loop.run_range(0, loop.steps, bar)
    ctx = multiprocessing.get_context("fork")
    _LOOP, _DONE = loop, ctx.Value("i", 0)
    shown = 0
    try:
        with ctx.Pool(len(ranges), initializer=_ignore_interrupt) as pool:
            pending = pool.map_async(_run, ranges, chunksize=1)
            while not pending.ready():
                pending.wait(0.2)
                if bar is not None and _DONE.value > shown:
                    bar.update(_DONE.value - shown)
                    shown = _DONE.value
            parts = pending.get()
    finally:
        _LOOP = _DONE = None
    if bar is not None and loop.steps > shown:
        bar.update(loop.steps - shown)
    acc, offset, events = ReportAccumulator(len(loop.plans), loop.steps), 0.0, 0
    for (first, stop), (part, cycles, n_events) in zip(ranges, parts):
        acc.merge(part, first, stop, offset)
        offset += cycles
        events += n_events
    return acc, offset, events
