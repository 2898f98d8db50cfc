"""The discrete-event machine: SimPy processes for DRAM, the global buffer, both PE clusters, the vector
unit and the sparsity detector, executing one node's tiles with contention and overlap.

Each tile is a process: it allocates its footprint in the global buffer (blocking while the buffer is
full: back-pressure; a band's first tile also allocates the input band, which its last tile frees),
issues its DRAM loads (dense-channel input, compressed sparse-channel input, weights; they queue on the
one DRAM interface) while the global buffer takes them on a write port, computes on the dense and sparse
clusters at once (each for the cycles of its array mapping) while the global buffer feeds the local
buffers on one port and takes the results on another, lets the vector unit merge partial sums, writes
its result back to DRAM when the residency rule says so (read out of the global buffer), then frees its
buffer space. The global buffer's ports are a SimPy resource, so its bandwidth binds where it is short. All tiles of a node are started together; the buffer (allocations are served in
FIFO order) and the FIFO resources keep them in order and overlap tile i+1's loads with tile i's
compute. Nodes run one after the other: a node starts when the previous one has drained.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from components import (DENSE_CLUSTER, DRAM, GLOBAL_BUFFER, SPARSE_CLUSTER, VECTOR_UNIT, merge_intervals,
                        ActivityRecorder, Buffer, buffer_access_cycles, DensePECluster, Dram, HardwareConfig, SparsePECluster,
                        SparsityDetector, VectorUnit)

from components.energy import READ_BYTES, WRITE_BYTES

from .analytical import dram_cost
from .work import TileWork, Transfer, prefetch_transfer

__all__ = ["Machine"]


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it schedules (the simulator's cost measure)."""

    def __init__(self) -> None:
        super().__init__()
        self.events_scheduled = 0

    def schedule(self, event, priority=simpy.core.NORMAL, delay=0) -> None:  # type: ignore[override]
        self.events_scheduled += 1
        super().schedule(event, priority, delay)


class Machine:
    """One accelerator instance in one SimPy environment; ``stats`` may be swapped between nodes."""

    def __init__(self, hw: HardwareConfig, working_bytes: float, calibration: dict | None = None) -> None:
        self.hw = hw
        self.env = CountingEnvironment()
        self.stats = ActivityRecorder()
        gb_cfg = hw.global_buffer.model_copy(update={"capacity_bytes": max(int(working_bytes), 1)})
        self.dram = Dram(self.env, hw.dram, hw.clock_ghz, self.stats)
        self.gb = Buffer(self.env, gb_cfg, self.stats)
        self.dense = DensePECluster(self.env, hw.dense_cluster, self.stats) if hw.dense_cluster else None
        self.sparse = SparsePECluster(self.env, hw.sparse_cluster, self.stats) if hw.sparse_cluster else None
        self.vector = VectorUnit(self.env, hw.vector_unit, self.stats)
        self.detector = SparsityDetector(self.env, hw.detector, self.stats, calibration=calibration) \
            if hw.detector else None
        self._parts = [p for p in (self.dram, self.gb, self.dense, self.sparse, self.vector, self.detector) if p]

    def use_stats(self, stats: ActivityRecorder) -> None:
        """Send every component's records to ``stats`` from now on."""
        self.stats = stats
        for p in self._parts:
            p.stats = stats

    # -- processes ------------------------------------------------------------------------------------
    def run_tiles(self, tiles: list[TileWork], tag: str, period: int = 1, skip: "FastForward | None" = None):
        """Process body: execute ``tiles`` (one node) in order and return when the last has written back.

        At most two tiles are in flight when the global buffer is double buffered (one otherwise): tile k
        starts (allocates its buffer space and issues its loads) when tile k - 2 has written back, so tile
        k's loads overlap tile k - 1's compute, as the mapping assumed.

        With ``skip`` (:class:`FastForward`), tiles that repeat with ``period`` (after a first period that
        may differ) are fast-forwarded once the pipeline is periodic: when ``skip.warmup_periods``
        consecutive periods took the same cycles, the middle periods are skipped (``skip`` is filled in;
        the caller accounts their time, counters and busy fractions) and the last period runs as events."""
        env = self.env
        n = len(tiles)
        if not n:
            return
        depth = 2 if self.hw.global_buffer.double_buffered else 1
        ends: dict[int, float] = {}
        order = _InOrder()
        spawned: list = []  # (tile index, process) in spawn order (indices jump over skipped periods)
        durations: list[float] = []
        last = n - period  # the last period always runs as events
        k = 0
        while k < n:
            if len(spawned) >= depth:
                j, proc = spawned[-depth]
                yield proc  # tile j is done: tile k may take its buffer space
                if (skip is not None and not skip.periods and k % period == 0 and j - period >= period
                        and k < last):
                    # the pipeline now is where it was one period ago (tile j - period done, tile k - period next)
                    durations.append(ends[j] - ends[j - period])
                    recent = durations[-skip.warmup_periods:]
                    if len(recent) == skip.warmup_periods and max(recent) - min(recent) <= 1e-9 * max(recent[-1], 1.0):
                        m = (last - k) // period
                        if m >= 1:
                            skip.periods, skip.period_cycles, skip.cut_cycle = m, recent[-1], ends[j]
                            skip.period_tiles = tiles[k:k + period]
                            k += m * period
            spawned.append((k, env.process(self._tile(tiles[k], tag, ends, k, order, order.ticket()))))
            k += 1
        yield env.all_of([p for _, p in spawned[-depth:]])
        self.count_tiles(tiles, self.stats)

    def count_tiles(self, tiles: list[TileWork], stats: ActivityRecorder) -> None:
        """Counters of all ``tiles`` of a node, simulated or fast-forwarded (tiles that are the same object
        are counted once and multiplied)."""
        seen: dict[int, list] = {}
        for tw in tiles:
            e = seen.get(id(tw))
            if e is None:
                seen[id(tw)] = [tw, 1]
            else:
                e[1] += 1
        for tw, mult in seen.values():
            if mult == 1:
                self.count_tile(tw, stats)
            else:
                scratch = ActivityRecorder()
                self.count_tile(tw, scratch)
                for (comp, name), v in scratch.counters.items():
                    stats.add(comp, name, v * mult)

    def _tile(self, tw: TileWork, tag: str, ends: dict | None = None, k: int = 0, order: "_InOrder | None" = None,
              ticket: int = 0):
        yield self.gb.allocate(tw.footprint_bytes + tw.band_alloc_bytes)
        try:
            if tw.loads:  # DRAM streams into the global buffer: the slower of the two sets the pace
                yield from self._move(tw.loads, tw.gb_fill, "write", tag)
            if order is not None:  # the controller computes a node's tiles in program order
                yield from order.wait_turn(self.env, ticket)
            yield from self._compute(tw, tag)
            if tw.merge_elems:
                cyc = self.vector.job(tw.merge_elems, "add")[0]
                yield from self._until(self._book(self.vector.calendar, VECTOR_UNIT, "add", cyc, tag) + cyc)
            if tw.writes:  # write-back: the global buffer drains into DRAM
                yield from self._move(tw.writes, tw.gb_drain, "read", tag)
        finally:
            self.gb.release(tw.footprint_bytes + tw.band_release_bytes)
        if ends is not None:
            ends[k] = self.env.now

    def count_tile(self, tw: TileWork, stats: ActivityRecorder) -> None:
        """Add every counter of one tile to ``stats``: DRAM transfers (bytes moved by operand, bursts, row
        activations), global-buffer and local-buffer bytes by operand, array and vector-unit work. The
        phases only record busy intervals, so a fast-forwarded tile counts exactly like a simulated one."""
        for x in tw.loads + tw.writes:
            c = self._cost(x)
            if c.bursts:
                self.dram.count(x.nbytes, c, x.kind, stats)
                stats.add(DRAM, f"operand_bytes_moved.{x.tag}", c.bytes_moved)
        for parts, kind in ((tw.gb_fill, WRITE_BYTES), (tw.gb_operand, READ_BYTES), (tw.gb_result, WRITE_BYTES),
                            (tw.gb_drain, READ_BYTES)):
            stats.add_many(GLOBAL_BUFFER, {f"{kind}.{op}": b for op, b in parts.items()})
        if tw.dense is not None:
            j = tw.dense
            stats.add_many(DENSE_CLUSTER, self.dense.job_counters(j.cycles, j.macs, j.fmt))
        if tw.sparse is not None:
            j = tw.sparse
            stats.add_many(SPARSE_CLUSTER, self.sparse.job_counters(j.cycles, j.dense_macs, j.density, j.fmt,
                                                                    j.bitmap_elems))
        if tw.vector_elems:
            stats.add_many(VECTOR_UNIT, self.vector.job(tw.vector_elems, tw.vector_kind)[1])
        if tw.merge_elems:
            stats.add_many(VECTOR_UNIT, self.vector.job(tw.merge_elems, "add")[1])
        for comp, counters in tw.local.items():
            stats.add_many(comp, counters)

    def _cost(self, x: Transfer):
        """DRAM cost of a transfer (memoized per machine with the analytical model's)."""
        return dram_cost(self.hw, x)

    def _book(self, calendar, component: str, kind: str, cycles: float, tag: str, now: float | None = None) -> float:
        """Book ``cycles`` on a calendar from ``now`` (default: the current cycle) and record the busy
        interval; returns the start cycle."""
        start = calendar.book(self.env.now if now is None else now, cycles)
        if cycles > 0:
            self.stats.record(component, kind, start, start + cycles, tag)
        return start

    def _until(self, cycle: float):
        if cycle > self.env.now:
            yield self.env.timeout(cycle - self.env.now)

    def _move(self, xs: list[Transfer], gb_parts: dict[str, float], gb_kind: str, tag: str):
        """Transfers issued together: they take the DRAM interface back to back (occupancies add up, one
        access latency, pipelined) while a global-buffer port takes (or gives) their bytes; the phase
        ends when both are done."""
        lat = self.hw.dram.row_hit_latency_cycles
        occupancy = sum(c.cycles - lat for c in (self._cost(x) for x in xs) if c.bursts)
        gb_cycles = buffer_access_cycles(sum(gb_parts.values()), self.hw.global_buffer)
        start = end = self.env.now
        if occupancy > 0:
            start = self._book(self.dram.calendar, DRAM, xs[0].kind, occupancy, tag)
            end = start + occupancy + lat
        if gb_cycles:  # the port streams the bytes as they arrive (or leave): booked when the transfer starts
            yield from self._until(start)
            end = max(end, self._book(self.gb.ports, GLOBAL_BUFFER, gb_kind, gb_cycles, tag) + gb_cycles)
        yield from self._until(end)

    def _compute(self, tw: TileWork, tag: str):
        """The compute phase: both clusters (or the vector unit) start together when all are free, each for
        its own cycles, while the global buffer feeds the local buffers on one port and takes the results
        on another; the phase ends with the last of them."""
        jobs = []  # (unit, component, cycles, kind)
        if tw.dense is not None:
            jobs.append((self.dense, DENSE_CLUSTER, tw.dense.cycles, "compute"))
        if tw.sparse is not None:
            jobs.append((self.sparse, SPARSE_CLUSTER, tw.sparse.cycles, "compute"))
        if tw.vector_elems:
            jobs.append((self.vector, VECTOR_UNIT, self.vector.job(tw.vector_elems, tw.vector_kind)[0],
                         tw.vector_kind))
        now = self.env.now
        start = max([now] + [u.calendar.free_at for u, *_ in jobs])  # the arrays work on one tile together
        end = start
        for unit, comp, cyc, kind in jobs:
            self._book(unit.calendar, comp, kind, cyc, tag, start)
            end = max(end, start + cyc)
        gbc = self.hw.global_buffer
        rd = buffer_access_cycles(sum(tw.gb_operand.values()), gbc)
        wr = buffer_access_cycles(sum(tw.gb_result.values()), gbc)
        if rd or wr:  # ports are booked when the phase starts (not ahead: that would block earlier fills)
            yield from self._until(start)
            if rd:
                end = max(end, self._book(self.gb.ports, GLOBAL_BUFFER, "read", rd, tag) + rd)
            if wr:
                end = max(end, self._book(self.gb.ports, GLOBAL_BUFFER, "write", wr, tag) + wr)
            for unit, *_ in jobs:  # an array starved by its operand stream is not free for the next tile
                unit.calendar.extend_to(end)
        yield from self._until(end)

    def prefetch_into_idle_time(self, nbytes: float, start: float, tag: str):
        """Process body, run when a node's tiles are done: the weight prefetch of ``nbytes`` the node hosted.

        The DMA reads at the lowest priority, burst by burst, so it takes the DRAM only when no demand
        transfer wants it: it fills the idle gaps of the interface since ``start`` (the node's start) in
        order, and a fast-forwarded span lends it the idle share of its steady state. What does not fit
        extends the node (then the access latency shows too). The bytes land in buffer space the plan left
        free for them (``des.mapping.plan_graph``), so no tile of the node waits for it."""
        x = prefetch_transfer(nbytes)
        tw = TileWork(loads=[x], gb_fill={"weights": nbytes})
        need = self._cost(x).cycles - self.hw.dram.row_hit_latency_cycles
        now = self.env.now
        s, e, names = self.stats.interval_columns()
        sel = [i for i, c in enumerate(names) if c == DRAM and e[i] > start]
        ms, me = merge_intervals(np.maximum(s[sel], start), np.minimum(e[sel], now)) if sel else (np.zeros(0), np.zeros(0))
        gaps_s = np.concatenate([[start], me])
        gaps_e = np.concatenate([ms, [now]])
        for a, b in zip(gaps_s.tolist(), gaps_e.tolist()):
            if need <= 0:
                break
            room = b - a - sum(frac.get(DRAM, 0.0) * max(0.0, min(b, d1) - max(a, d0)) for d0, d1, frac in self.stats.duty)
            use = min(max(room, 0.0), need)
            if use > 0:
                self.stats.record(DRAM, "read", a, a + use, tag)
                need -= use
        if need > 0:  # the rest after the node: the node's span grows
            self.stats.record(DRAM, "read", now, now + need, tag)
            yield self.env.timeout(need + self.hw.dram.row_hit_latency_cycles)
            self.dram.calendar.book(now, need)
        if sum(tw.gb_fill.values()):
            self.stats.record(GLOBAL_BUFFER, "write", start, start + buffer_access_cycles(nbytes, self.hw.global_buffer),
                              tag)
        self.count_tile(tw, self.stats)

class _InOrder:
    """Lets a node's tiles enter their compute phase in spawn order: each gets a ticket when spawned; a tile
    whose loads finished before its predecessor's waits for its turn (one event, only then)."""

    def __init__(self) -> None:
        self._issued = 0  # tickets handed out
        self._done = 0  # tiles that took their turn
        self._waiters: dict[int, simpy.Event] = {}

    def ticket(self) -> int:
        self._issued += 1
        return self._issued - 1

    def wait_turn(self, env: simpy.Environment, t: int):
        if t > self._done:
            ev = self._waiters[t] = env.event()
            yield ev
        self._done = t + 1
        nxt = self._waiters.pop(self._done, None)
        if nxt is not None:
            nxt.succeed()


@dataclass
class FastForward:
    """Steady-state fast-forward of one node's repeating tiles, filled in by :meth:`Machine.run_tiles`.

    A double-buffered pipeline of identical tiles settles into a periodic schedule after a few tiles; once
    ``warmup_periods`` periods have run and two consecutive ones took the same cycles, the tiles of the next
    ``periods`` periods are not simulated: their time is ``periods x period_cycles``, inserted at
    ``cut_cycle``; their counters are those of ``period_tiles`` times ``periods``; their components are
    busy at the fractions of the last simulated period (the caller shifts what was recorded after the
    cut and accounts the rest)."""

    warmup_periods: int = 2
    periods: int = 0
    period_tiles: list = field(default_factory=list)
    period_cycles: float = 0.0
    cut_cycle: float = 0.0
