"""A unit that does one thing at a time (a PE array, the vector unit): the shared SimPy mechanics.

Subclasses compute their cycles from their pure cost function and call :meth:`BusyUnit._busy`, which
queues FIFO for the unit, holds it for the cycles and records the busy interval and the counters.
"""

from __future__ import annotations

from typing import Generator, Mapping

import simpy

from .stats import ActivityRecorder


class BusyUnit:
    """One-at-a-time unit: FIFO queue, busy intervals and counters recorded under `name`."""

    def __init__(self, env: simpy.Environment, cfg, stats: ActivityRecorder | None, name: str):
        self.env = env
        self.cfg = cfg
        self.stats = stats if stats is not None else ActivityRecorder()
        self.name = name
        self._unit = simpy.Resource(env, capacity=1)

    def _busy(self, cycles: float, kind: str, tag: str, counters: Mapping[str, float]) -> Generator[simpy.events.Event, object, float]:
        with self._unit.request() as req:
            yield req
            start = self.env.now
            if cycles:
                yield self.env.timeout(cycles)
            self.stats.record(self.name, kind, start, self.env.now, tag)
        self.stats.add_many(self.name, counters)
        return cycles
