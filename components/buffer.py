"""Buffer: an on-chip SRAM with a byte capacity, back-pressure, ports and access accounting.

- Space: `allocate(nbytes)` returns an event that fires once `nbytes` are free (FIFO: a large request
  is not overtaken by later small ones); `release(nbytes)` frees them. A request larger than the
  capacity can never succeed, so it raises CapacityError at once instead of blocking forever.
  `try_allocate(nbytes)` is the same request without an event when it is granted at once (None): the
  simulator's tiles take their space that way, one SimPy event less each when the buffer has room.
- Bandwidth: `read(nbytes)` / `write(nbytes)` are processes that hold one of `ports` ports for
  ceil(nbytes / bytes_per_cycle_per_port) cycles and count read/write bytes (priced by EnergyModel).
- Double buffering: with `double_buffered`, `tile_capacity_bytes` is half the capacity, so a caller
  can allocate the next tile (and load it) while the current one is in use.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Generator, Mapping

import simpy

from .config import GLOBAL_BUFFER, BufferConfig
from .energy import READ_BYTES, WRITE_BYTES
from .errors import CapacityError
from .resource import Calendar
from .stats import ActivityRecorder


def buffer_access_cycles(nbytes: float, cfg: BufferConfig) -> int:
    """Cycles one port needs to move `nbytes`: ceil(nbytes / bytes_per_cycle_per_port)."""
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    return math.ceil(nbytes / cfg.bytes_per_cycle_per_port) if nbytes else 0


class Buffer:
    """A capacity-limited, multi-port SRAM buffer (see the module docstring)."""

    def __init__(
        self,
        env: simpy.Environment,
        cfg: BufferConfig,
        stats: ActivityRecorder | None = None,
        name: str = GLOBAL_BUFFER,
    ):
        self.env = env
        self.cfg = cfg
        self.stats = stats if stats is not None else ActivityRecorder()
        self.name = name
        self._level = 0.0  # bytes allocated
        self._waiting: deque[tuple[float, simpy.Event]] = deque()  # requests not yet granted, in FIFO order
        self.ports = Calendar(cfg.ports)
        self.peak_allocated_bytes = 0.0

    @property
    def capacity_bytes(self) -> int:
        return self.cfg.capacity_bytes

    @property
    def tile_capacity_bytes(self) -> int:
        """Bytes one tile may use (half the capacity when double buffered)."""
        return self.cfg.tile_capacity_bytes

    @property
    def allocated_bytes(self) -> float:
        """Bytes currently allocated."""
        return float(self._level)

    @property
    def free_bytes(self) -> float:
        return self.cfg.capacity_bytes - float(self._level)

    def allocate(self, nbytes: float) -> simpy.events.Event:
        """Event that fires when `nbytes` are allocated (waits for space). CapacityError if
        `nbytes` exceeds the whole capacity (raised now, never a hang)."""
        ev = self.try_allocate(nbytes)
        if ev is None:
            ev = self.env.event()
            ev.succeed()
        return ev

    def try_allocate(self, nbytes: float) -> simpy.events.Event | None:
        """Allocate `nbytes`: None when granted now (room, and no earlier request waiting), else an event
        that fires when granted (FIFO). CapacityError if `nbytes` exceeds the whole capacity."""
        if nbytes < 0:
            raise ValueError(f"{self.name}: cannot allocate a negative size ({nbytes} bytes)")
        if nbytes > self.cfg.capacity_bytes:
            raise CapacityError(
                f"{self.name}: request of {nbytes} bytes exceeds its capacity of {self.cfg.capacity_bytes} bytes"
            )
        if nbytes == 0:
            return None
        if not self._waiting and self._level + nbytes <= self.cfg.capacity_bytes:
            self._grant(nbytes)
            return None
        ev = self.env.event()
        self._waiting.append((nbytes, ev))
        return ev

    def release(self, nbytes: float) -> None:
        """Free `nbytes` previously allocated (immediately; grants waiting requests in FIFO order)."""
        if nbytes < 0 or nbytes > self._level + 1e-9:
            raise ValueError(f"{self.name}: cannot release {nbytes} bytes, {self._level} allocated")
        if nbytes:
            self._level = max(self._level - nbytes, 0.0)
            waiting = self._waiting
            while waiting and self._level + waiting[0][0] <= self.cfg.capacity_bytes:
                n, ev = waiting.popleft()
                self._grant(n)
                ev.succeed()

    def _grant(self, nbytes: float) -> None:
        self._level += nbytes
        if self._level > self.peak_allocated_bytes:
            self.peak_allocated_bytes = float(self._level)
        self.stats.add(self.name, "allocations", 1)

    def read(self, nbytes: float, tag: str = "", by_operand: Mapping[str, float] | None = None
             ) -> Generator[simpy.events.Event, object, int]:
        """Process body: read `nbytes` through one port; returns the cycles it held the port. With
        `by_operand` (operand -> bytes, summing to `nbytes`) the bytes are counted as `read_bytes.<operand>`."""
        return self._access(nbytes, "read", READ_BYTES, tag, by_operand)

    def write(self, nbytes: float, tag: str = "", by_operand: Mapping[str, float] | None = None
              ) -> Generator[simpy.events.Event, object, int]:
        """Process body: write `nbytes` through one port (counted as for :meth:`read`)."""
        return self._access(nbytes, "write", WRITE_BYTES, tag, by_operand)

    def _access(self, nbytes: float, kind: str, counter: str, tag: str,
                by_operand: Mapping[str, float] | None) -> Generator[simpy.events.Event, object, int]:
        cycles = buffer_access_cycles(nbytes, self.cfg)
        if cycles == 0:
            return 0
        start = self.ports.book(self.env.now, cycles)
        yield self.env.timeout(start + cycles - self.env.now)
        self.count(start, cycles, kind, nbytes, tag, by_operand)
        return cycles

    def count(self, start: float, cycles: float, kind: str, nbytes: float, tag: str = "",
              by_operand: Mapping[str, float] | None = None) -> None:
        """Record a port busy over [start, start + cycles) doing `kind` ("read"/"write") and count its bytes
        (as `<kind>_bytes`, or `<kind>_bytes.<operand>` with `by_operand`)."""
        if cycles:
            self.stats.record(self.name, kind, start, start + cycles, tag)
        counter = READ_BYTES if kind == "read" else WRITE_BYTES
        if by_operand:
            self.stats.add_many(self.name, {f"{counter}.{op}": b for op, b in by_operand.items()})
        elif nbytes:
            self.stats.add(self.name, counter, nbytes)
