"""A sampling loop simulated by several processes at once: the steps split into consecutive ranges.

Each node starts on a drained machine (:mod:`des.engine`), so a range of steps run alone, from cycle 0,
takes the cycles it takes inside the whole loop; the only state that crosses steps is the detector's
labels, which a range resumes from the last accepted update before it
(:meth:`des.engine.SamplingLoop.run_range`). The ranges run in forked processes (they inherit the prepared
loop: nothing large is pickled on the way in); the parent puts their records end to end
(:meth:`des.engine.ReportAccumulator.merge`), each shifted by the cycles of the ranges before it.

The merged record is the one process's. The totals are added again in the order one process adds them
(each range logs its additions). A range after the first first runs the step before it unrecorded, so
its replay cache holds what the whole loop's holds by then and it replays the same segments. Cycle
times are shifted by the cycles of the ranges before: to the bit where event times are exact binary
fractions (the shipped sparse machine's are; tests compare every report field with one process's),
else to the rounding of one addition. Only ``Report.events`` differs (the warm-up step and each range's
first simulation of its step-independent nodes). A platform that cannot fork runs the loop in one
process.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import signal

import numpy as np

from .engine import ReportAccumulator, SamplingLoop, SimulationError

__all__ = ["MIN_RANGE_STEPS", "run_in_ranges", "step_ranges"]

# the loop and the shared step counter of the run in progress, inherited by the forked workers
_LOOP: SamplingLoop | None = None
_DONE = None


# A range after the first also runs the step before it and simulates its step-independent nodes once (to
# warm its replay cache as the whole loop would have), so a range shorter than this costs more than it saves.
MIN_RANGE_STEPS = 8


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


def _worker(bounds: tuple[int, int], conn) -> None:
    """Process body: simulate one range and send ("ok", record) or ("error", exception) to the parent.
    Ctrl-C is left to the parent, which stops the workers (no traceback from each of them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        acc, cycles, events = _LOOP.run_range(*bounds, _StepTicks(), log=True)
        if len(acc.chunks) > 1:  # one array each instead of thousands of small ones: 70x faster to pickle
            acc.chunks = [tuple(np.concatenate(col) for col in zip(*acc.chunks))]
        result = ("ok", (acc, cycles, events))
    except Exception as e:  # noqa: BLE001 - handed to the parent, which raises it
        result = ("error", e)
    try:
        conn.send(result)
    except Exception as e:  # noqa: BLE001 - an exception that cannot be pickled: its text
        conn.send(("error", SimulationError(f"steps {bounds[0]}..{bounds[1] - 1}: {type(e).__name__}: {e}")))
    conn.close()


def run_in_ranges(loop: SamplingLoop, jobs: int, bar=None) -> tuple[ReportAccumulator, float, int]:
    """Simulate ``loop`` with up to ``jobs`` processes; returns the merged record, the total cycles and the
    SimPy events of all processes, as ``loop.run_range(0, steps)`` does. A worker that fails raises its
    error here; one that dies without a result (killed, out of memory) is a :class:`SimulationError`; on any
    exit the workers still running are stopped."""
    global _LOOP, _DONE
    ranges = step_ranges(loop.steps, jobs)
    if len(ranges) == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return loop.run_range(0, loop.steps, bar)
    ctx = multiprocessing.get_context("fork")
    _LOOP, _DONE = loop, ctx.Value("i", 0)
    workers, parts, shown = [], {}, 0
    try:
        for bounds in ranges:
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(bounds, send), daemon=True)
            proc.start()
            send.close()
            workers.append((bounds, proc, recv))
        while len(parts) < len(workers):
            pending = [(b, p, c) for b, p, c in workers if b not in parts]
            multiprocessing.connection.wait([c for _, _, c in pending] + [p.sentinel for _, p, _ in pending], 0.2)
            for bounds, proc, conn in pending:
                alive = proc.is_alive()  # first: a worker that had exited sent all it ever will before
                if conn.poll():
                    try:
                        status, payload = conn.recv()
                    except EOFError:
                        status, payload = "died", None
                    except Exception as e:  # noqa: BLE001 - e.g. an exception object that does not unpickle
                        status, payload = "error", SimulationError(
                            f"steps {bounds[0]}..{bounds[1] - 1}: unreadable result ({type(e).__name__}: {e})")
                elif not alive:
                    status, payload = "died", None
                else:
                    continue
                if status == "error":
                    raise payload
                if status == "died":
                    proc.join()
                    raise SimulationError(f"the process simulating steps {bounds[0]}..{bounds[1] - 1} ended "
                                          f"without a result (exit code {proc.exitcode}; out of memory?)")
                parts[bounds] = payload
            if bar is not None and _DONE.value > shown:
                bar.update(_DONE.value - shown)
                shown = _DONE.value
    finally:
        for _, proc, conn in workers:
            if proc.is_alive():
                proc.terminate()
            proc.join()
            conn.close()
        _LOOP = _DONE = None
    if bar is not None and loop.steps > shown:
        bar.update(loop.steps - shown)
    acc, offset, events = ReportAccumulator(len(loop.plans), loop.steps), 0.0, 0
    for bounds in ranges:
        part, cycles, n_events = parts[bounds]
        acc.merge(part, *bounds, offset)
        offset += cycles
        events += n_events
    return acc, offset, events
