"""Resources booked ahead, and a unit that does one thing at a time (a PE array, the vector unit).

:class:`Calendar` is a FIFO resource with ``servers`` identical servers whose requests state their
service time when they arrive. Such a queue needs no wake-up events: a request arriving at ``now`` takes
the server that frees first and starts at ``max(now, that server's free time)`` (the Lindley recursion
of a FIFO multi-server queue), which is exactly when a ``simpy.Resource`` with the same capacity would
grant it. A SimPy process books its slot and then waits with one timeout, so a tile of work costs one
event per phase instead of a request, a release and a timeout per resource.

Subclasses of :class:`BusyUnit` compute their cycles from their pure cost function and call
:meth:`BusyUnit._busy`, which books the unit, waits for the slot and records the busy interval and the
counters.
"""

from __future__ import annotations

from typing import Generator, Mapping

import simpy

from .stats import ActivityRecorder

__all__ = ["Calendar", "BusyUnit"]


class Calendar:
    """A FIFO resource with ``servers`` servers, booked at arrival (see the module docstring)."""

    def __init__(self, servers: int = 1) -> None:
        if servers < 1:
            raise ValueError(f"servers must be >= 1, got {servers}")
        self._free = [0.0] * servers
        self._single = servers == 1

    @property
    def free_at(self) -> float:
        """When the first server is free."""
        return self._free[0] if self._single else min(self._free)

    def book(self, now: float, cycles: float) -> float:
        """Book ``cycles`` of service for a request arriving at ``now``; returns its start cycle."""
        if cycles < 0:
            raise ValueError(f"cycles must be >= 0, got {cycles}")
        free = self._free
        i = 0 if self._single else free.index(min(free))  # the first server to free (the lowest index on ties)
        start = max(now, free[i])
        free[i] = start + cycles
        return start

    def extend_to(self, cycle: float) -> None:
        """Keep a single-server calendar busy until ``cycle`` (a unit that waits for its operands stays
        taken although it computes for less)."""
        if len(self._free) != 1:
            raise ValueError("extend_to needs a single-server calendar")
        self._free[0] = max(self._free[0], cycle)


class BusyUnit:
    """One-at-a-time unit: FIFO calendar, busy intervals and counters recorded under `name`."""

    def __init__(self, env: simpy.Environment, cfg, stats: ActivityRecorder | None, name: str):
        self.env = env
        self.cfg = cfg
        self.stats = stats if stats is not None else ActivityRecorder()
        self.name = name
        self.calendar = Calendar(1)

    def _busy(self, cycles: float, kind: str, tag: str, counters: Mapping[str, float]) -> Generator[simpy.events.Event, object, float]:
        start = self.calendar.book(self.env.now, cycles)
        if start + cycles > self.env.now:
            yield self.env.timeout(start + cycles - self.env.now)
        self.count(start, cycles, kind, tag, counters)
        return cycles

    def count(self, start: float, cycles: float, kind: str, tag: str, counters: Mapping[str, float]) -> None:
        """Record the unit busy over [start, start + cycles) and add its counters."""
        self.stats.record(self.name, kind, start, start + cycles, tag)
        self.stats.add_many(self.name, counters)
