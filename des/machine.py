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

from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

import numpy as np
import simpy

from components import (DENSE_CLUSTER, DRAM, GLOBAL_BUFFER, SPARSE_CLUSTER, VECTOR_UNIT, merge_intervals,
                        ActivityRecorder, Buffer, buffer_access_cycles, DensePECluster, Dram, HardwareConfig, SparsePECluster,
                        SparsityDetector, VectorUnit)

from components.energy import READ_BYTES, WRITE_BYTES

from .analytical import dram_cost, occupancy_cycles
from .work import TileWork, Transfer, prefetch_transfer

__all__ = ["Machine"]


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it schedules (the simulator's cost measure)."""

    def __init__(self) -> None:
        super().__init__()
        self.events_scheduled = 0
        # SimPy binds timeout/process/event to the instance only for the instance's own class (bind_early):
        # bind the base class's too, or every env.timeout(...) goes through the descriptor
        for name, obj in simpy.Environment.__dict__.items():
            if type(obj) is simpy.core.BoundClass:
                setattr(self, name, getattr(self, name))

    def schedule(self, event, priority=simpy.core.NORMAL, delay=0) -> None:  # type: ignore[override]
        self.events_scheduled += 1
        _schedule(self, event, priority, delay)


_schedule = simpy.Environment.schedule  # called unbound: one lookup less per event than super()


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
        self._dram_latency = hw.dram.row_hit_latency_cycles  # the tile process's constants, looked up once
        self._token = object()  # this machine, in what tiles memoize for it (tile_timing)

    def use_stats(self, stats: ActivityRecorder) -> None:
        """Send every component's records to ``stats`` from now on."""
        self.stats = stats
        for p in self._parts:
            p.stats = stats

    # -- processes ------------------------------------------------------------------------------------
    def run_tiles(self, tiles: list[TileWork], tag: str, period: int = 1, skip: "FastForward | None" = None):
        """Process body: execute ``tiles`` (one node) in order and return when the last has written back.
        Only time passes and busy intervals are recorded (and the buffer's allocations counted): the tiles'
        counters are :meth:`count_tiles`'s, which the caller adds (a tile fast-forwarded or replayed counts
        like a simulated one).

        At most two tiles are in flight when the global buffer is double buffered (one otherwise): tile k
        starts (allocates its buffer space and issues its loads) when tile k - 2 has written back, so tile
        k's loads overlap tile k - 1's compute, as the mapping assumed.

        With ``skip`` (:class:`FastForward`), a pipeline that has become periodic is fast-forwarded: the
        skipped spans are appended to ``skip.spans`` (the caller accounts their time, counters and busy
        fractions). Two ways, whichever leaves fewer tiles to simulate (:func:`_prefer_runs`):

        - *whole periods*: tiles that repeat with ``period`` (after a first period that may differ); when
          ``skip.warmup_periods`` consecutive periods took the same cycles, the middle periods are skipped
          and the last period runs as events (one span);
        - *runs*: within each run of identical consecutive tiles (the middle tiles of a band), once
          ``skip.warmup_periods`` consecutive tiles finished the same cycles apart, the run's tiles up to
          its last are skipped (one span per run); the last tile of the run and everything after it run as
          events, so the pipeline enters the next, different tile from the state it would have had."""
        env = self.env
        n = len(tiles)
        if not n:
            return
        depth = 2 if self.hw.global_buffer.double_buffered else 1
        ends: dict[int, float] = {}
        order = _InOrder()
        spawned: list = []  # (tile index, process) in spawn order (indices jump over skipped tiles)
        timings: dict[int, _TileTiming] = {}  # by tile memo: a node's tiles repeat a few variants (or copies)
        last = n - period  # the last period always runs as events
        warm = skip.warmup_periods if skip is not None else 0
        run_end = _run_ends(tiles) if skip is not None and _prefer_runs(tiles, period, warm, depth) else None
        durations: list[float] = []
        k = 0
        while k < n:
            if len(spawned) >= depth:
                j, proc = spawned[-depth]
                yield proc  # tile j is done: tile k may take its buffer space
                if run_end is not None:
                    k = self._skip_run(tiles, k, j, spawned, ends, run_end, skip)
                elif (skip is not None and not skip.spans and k % period == 0 and j - period >= period
                        and k < last):
                    # the pipeline now is where it was one period ago (tile j - period done, tile k - period next)
                    durations.append(ends[j] - ends[j - period])
                    recent = durations[-warm:]
                    if len(recent) == warm and _all_equal(recent):
                        m = (last - k) // period
                        if m >= 1:
                            skip.spans.append(SkippedSpan(m, recent[-1], ends[j], tiles[k:k + period]))
                            k += m * period
            tw = tiles[k]
            timing = timings.get(id(tw.memo))
            if timing is None:
                timing = timings[id(tw.memo)] = self.tile_timing(tw)
            spawned.append((k, env.process(self._tile(timing, tag, ends, k, order, order.ticket()))))
            k += 1
        yield env.all_of([p for _, p in spawned[-depth:]])

    @staticmethod
    def _skip_run(tiles: list[TileWork], k: int, j: int, spawned: list, ends: dict[int, float], run_end: list[int],
                  skip: "FastForward") -> int:
        """The next tile to spawn: ``k``, or past the skipped middle of its run when the pipeline is periodic
        (tile ``j`` done; :meth:`run_tiles`)."""
        w = skip.warmup_periods
        end = run_end[k]
        if end - k < 1 or j - w < 0 or run_end[j - w] != end or spawned[-1][0] != k - 1:
            return k  # too short, or the last w + 1 done tiles, those in flight and tile k not all one run
        marks = [ends.get(j - i) for i in range(w + 1)]  # done tiles j, j - 1, ..., j - w (none skipped)
        if None in marks:
            return k
        steps = [marks[i] - marks[i + 1] for i in range(w)]
        if not _all_equal(steps):
            return k
        skip.spans.append(SkippedSpan(end - k, steps[0], marks[0], [tiles[k]]))
        return end

    def count_tiles(self, tiles: list[TileWork], stats: ActivityRecorder) -> None:
        """Counters of all ``tiles`` of a node, simulated or fast-forwarded (tiles that are the same object
        are counted once and multiplied; copies of a tile add the same counters one after the other)."""
        ids = list(map(id, tiles))
        objects = dict(zip(ids, tiles))  # each tile object once, in order of first appearance
        counted: dict[int, list] = {}  # a tile's counters, by memo (copies of a tile count the same)
        for i, mult in Counter(ids).items():
            tw = objects[i]
            adds = counted.get(id(tw.memo))
            if adds is None:  # ((component, counter), amount) in the order count_tile adds them
                adds = counted[id(tw.memo)] = self._tile_adds(tw)
            if mult == 1:
                stats.add_counts(adds)
            else:  # the tile's own totals (as one tile would add them up), times its count
                one: dict[tuple[str, str], float] = {}
                for key, v in adds:
                    one[key] = one.get(key, 0.0) + v
                stats.add_counts([(key, v * mult) for key, v in one.items()])

    def _tile_adds(self, tw: TileWork) -> list[tuple[tuple[str, str], float]]:
        """The counter additions of one tile (:meth:`count_tile`) as ((component, counter), amount) pairs, in
        order: its loads' and write-backs' DRAM counters, its global-buffer bytes by phase (fill, operand,
        result, drain), then its compute and local buffers (:meth:`_shared_counters`). The part a node's tile
        variants share (``tw.shared_memo``: write-backs, compute, local buffers) is built once for all of them
        and spliced in where it belongs."""
        shared = tw.shared_memo.get("counters") if tw.shared_memo is not None else None
        if shared is None or shared[0] is not self.hw:
            shared = (self.hw, _flat(self._transfer_counters(tw.writes)), _flat(self._shared_counters(tw)))
            if tw.shared_memo is not None:
                tw.shared_memo["counters"] = shared
        return _flat(self._transfer_counters(tw.loads)) + shared[1] + _flat(
            [(GLOBAL_BUFFER, {f"{WRITE_BYTES}.{op}": b for op, b in tw.gb_fill.items()})]) + shared[2]

    def tile_timing(self, tw: TileWork) -> "_TileTiming":
        """What the tile process needs of ``tw`` (:class:`_TileTiming`), memoized on the tile for this machine."""
        memo = tw.memo.get("timing")
        if memo is not None and memo[0] is self._token:
            return memo[1]
        timing = self._timing(tw)
        tw.memo["timing"] = (self._token, timing)  # a token, not the machine: memoized tiles outlive it
        return timing

    def timing_signature(self, tiles: list[TileWork]) -> tuple:
        """Everything :meth:`run_tiles` does with ``tiles`` depends on: which tiles are one variant (the same
        object or copies: the fast-forward's runs and periods) and each variant's :class:`_TileTiming` (the
        numbers its process uses; its units' calendars are this machine's). Equal signatures on one machine
        give the same schedule, so a node's timing can be reused across steps whose work differs only in
        what does not change the schedule (:class:`des.engine.StepDriver`)."""
        ids = [id(tw.memo) for tw in tiles]
        first = dict.fromkeys(ids)  # the variants in order of first appearance
        index = {m: j for j, m in enumerate(first)}
        reps = {id(tw.memo): tw for tw in tiles}
        return tuple(map(index.__getitem__, ids)), tuple(self.tile_timing(reps[m]) for m in first)

    def _timing(self, tw: TileWork) -> "_TileTiming":
        """The numbers the tile process needs, computed once per tile object (see :class:`_TileTiming`); what a
        node's tile variants share (compute, write-back: ``tw.shared_memo``, per machine configuration) once
        for all of them."""
        hw = self.hw
        gbc = hw.global_buffer
        shared = tw.shared_memo.get("timing") if tw.shared_memo is not None else None
        if shared is not None and shared[0] is hw:
            vector_cycles, operand, result, merge, writes = shared[1]
        else:
            vector_cycles = self.vector.job(tw.vector_elems, tw.vector_kind)[0] if tw.vector_elems else 0
            operand = buffer_access_cycles(sum(tw.gb_operand.values()), gbc)
            result = buffer_access_cycles(sum(tw.gb_result.values()), gbc)
            merge = self.vector.job(tw.merge_elems, "add")[0] if tw.merge_elems else None
            writes = _MoveTiming(occupancy_cycles(hw, tw.writes), tw.writes[0].kind,
                                 buffer_access_cycles(sum(tw.gb_drain.values()), gbc), "read") if tw.writes else None
            if tw.shared_memo is not None:  # numbers only (no calendar: the memo may outlive this machine)
                tw.shared_memo["timing"] = (hw, (vector_cycles, operand, result, merge, writes))
        jobs = []  # (unit's calendar, component, cycles, kind)
        if tw.dense is not None:
            jobs.append((self.dense.calendar, DENSE_CLUSTER, tw.dense.cycles, "compute"))
        if tw.sparse is not None:
            jobs.append((self.sparse.calendar, SPARSE_CLUSTER, tw.sparse.cycles, "compute"))
        if tw.vector_elems:
            jobs.append((self.vector.calendar, VECTOR_UNIT, vector_cycles, tw.vector_kind))
        return _TileTiming(
            alloc_bytes=tw.footprint_bytes + tw.band_alloc_bytes,
            release_bytes=tw.footprint_bytes + tw.band_release_bytes,
            loads=_MoveTiming(occupancy_cycles(hw, tw.loads), tw.loads[0].kind,
                              buffer_access_cycles(sum(tw.gb_fill.values()), gbc), "write") if tw.loads else None,
            jobs=tuple(jobs), operand_cycles=operand, result_cycles=result, merge_cycles=merge, writes=writes)

    def _tile(self, tt: "_TileTiming", tag: str, ends: dict | None, k: int, order: "_InOrder | None", ticket: int):
        """Process body: one tile (module docstring), from its precomputed numbers (:meth:`_timing`)."""
        env = self.env
        granted = self.gb.try_allocate(tt.alloc_bytes)
        if granted is not None:
            yield granted
        try:
            if tt.loads is not None:  # DRAM streams into the global buffer: the slower of the two sets the pace
                yield from self._move(tt.loads, tag)
            if order is not None:  # the controller computes a node's tiles in program order
                turn = order.turn(env, ticket)
                if turn is not None:
                    yield turn
                order.take(ticket)
            yield from self._compute(tt, tag)
            if tt.merge_cycles is not None:
                cyc = tt.merge_cycles
                end = self._book(self.vector.calendar, VECTOR_UNIT, "add", cyc, tag) + cyc
                if end > env.now:
                    yield env.timeout(end - env.now)
            if tt.writes is not None:  # write-back: the global buffer drains into DRAM
                yield from self._move(tt.writes, tag)
        finally:
            self.gb.release(tt.release_bytes)
        if ends is not None:
            ends[k] = env.now

    def count_tile(self, tw: TileWork, stats: ActivityRecorder) -> None:
        """Add every counter of one tile to ``stats``: DRAM transfers (bytes moved by operand, bursts, row
        activations), global-buffer and local-buffer bytes by operand, array and vector-unit work. The
        phases only record busy intervals, so a fast-forwarded tile counts exactly like a simulated one."""
        stats.add_counts(self._tile_adds(tw))

    def _transfer_counters(self, xs: list[Transfer]) -> list[tuple[str, Mapping[str, float]]]:
        """DRAM counters of transfers (bytes moved by operand, bursts, row activations), in order."""
        groups: list[tuple[str, Mapping[str, float]]] = []
        collect = _Collector(groups)
        for x in xs:
            c = self._cost(x)
            if c.bursts:
                self.dram.count(x.nbytes, c, x.kind, collect)  # type: ignore[arg-type]
                groups.append((DRAM, {f"operand_bytes_moved.{x.tag}": c.bytes_moved}))
        return groups

    def _shared_counters(self, tw: TileWork) -> list[tuple[str, Mapping[str, float]]]:
        """The counters of a tile after its fill: global-buffer operand, result and drain bytes, the arrays'
        and the vector unit's work, the local buffers."""
        groups: list[tuple[str, Mapping[str, float]]] = []
        for parts, kind in ((tw.gb_operand, READ_BYTES), (tw.gb_result, WRITE_BYTES), (tw.gb_drain, READ_BYTES)):
            groups.append((GLOBAL_BUFFER, {f"{kind}.{op}": b for op, b in parts.items()}))
        if tw.dense is not None:
            j = tw.dense
            groups.append((DENSE_CLUSTER, self.dense.job_counters(j.cycles, j.macs, j.fmt)))
        if tw.sparse is not None:
            j = tw.sparse
            groups.append((SPARSE_CLUSTER, self.sparse.job_counters(j.cycles, j.dense_macs, j.density, j.fmt,
                                                                    j.bitmap_elems)))
        if tw.vector_elems:
            groups.append((VECTOR_UNIT, self.vector.job(tw.vector_elems, tw.vector_kind)[1]))
        if tw.merge_elems:
            groups.append((VECTOR_UNIT, self.vector.job(tw.merge_elems, "add")[1]))
        groups.extend(tw.local.items())
        return groups

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

    def _move(self, mt: "_MoveTiming", tag: str):
        """Transfers issued together: they take the DRAM interface back to back (occupancies add up, one
        access latency, pipelined) while a global-buffer port takes (or gives) their bytes; the phase
        ends when both are done."""
        env = self.env
        now = env.now
        start = end = now
        occupancy = mt.occupancy
        if occupancy > 0:
            start = self._book(self.dram.calendar, DRAM, mt.kind, occupancy, tag, now)
            end = start + occupancy + self._dram_latency
        gb_cycles = mt.gb_cycles
        if gb_cycles:  # the port streams the bytes as they arrive (or leave): booked when the transfer starts
            if start > now:
                yield env.timeout(start - now)
            port_end = self._book(self.gb.ports, GLOBAL_BUFFER, mt.gb_kind, gb_cycles, tag) + gb_cycles
            if port_end > end:
                end = port_end
        now = env.now
        if end > now:
            yield env.timeout(end - now)

    def _compute(self, tt: "_TileTiming", tag: str):
        """The compute phase: both clusters (or the vector unit) start together when all are free, each for
        its own cycles, while the global buffer feeds the local buffers on one port and takes the results
        on another; the phase ends with the last of them."""
        env = self.env
        jobs = tt.jobs
        now = start = env.now
        for job in jobs:  # the arrays work on one tile together
            free = job[0].free_at
            if free > start:
                start = free
        end = start
        for calendar, comp, cyc, kind in jobs:
            self._book(calendar, comp, kind, cyc, tag, start)
            if start + cyc > end:
                end = start + cyc
        rd, wr = tt.operand_cycles, tt.result_cycles
        if rd or wr:  # ports are booked when the phase starts (not ahead: that would block earlier fills)
            if start > now:
                yield env.timeout(start - now)
            ports = self.gb.ports
            if rd:
                port_end = self._book(ports, GLOBAL_BUFFER, "read", rd, tag) + rd
                if port_end > end:
                    end = port_end
            if wr:
                port_end = self._book(ports, GLOBAL_BUFFER, "write", wr, tag) + wr
                if port_end > end:
                    end = port_end
            for job in jobs:  # an array starved by its operand stream is not free for the next tile
                job[0].extend_to(end)
        now = env.now
        if end > now:
            yield env.timeout(end - now)

    def prefetch_into_idle_time(self, nbytes: float, start: float, tag: str):
        """Process body, run when a node's tiles are done: the weight prefetch of ``nbytes`` the node hosted.

        The DMA reads at the lowest priority, burst by burst, so it takes the DRAM only when no demand
        transfer wants it: it fills the idle gaps of the interface since ``start`` (the node's start) in
        order, and a fast-forwarded span lends it the idle share of its steady state. What does not fit
        extends the node (then the access latency shows too). The bytes land in buffer space the plan left
        free for them (``des.mapping.plan_graph``), so no tile of the node waits for it."""
        need = self._cost(prefetch_transfer(nbytes)).cycles - self.hw.dram.row_hit_latency_cycles
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
        if nbytes:
            self.stats.record(GLOBAL_BUFFER, "write", start, start + buffer_access_cycles(nbytes, self.hw.global_buffer),
                              tag)

    def count_prefetch(self, nbytes: float, stats: ActivityRecorder) -> None:
        """The counters of a weight prefetch of ``nbytes`` (:meth:`prefetch_into_idle_time` only takes time
        and records intervals)."""
        self.count_tile(TileWork(loads=[prefetch_transfer(nbytes)], gb_fill={"weights": nbytes}), stats)


def _flat(groups: list[tuple[str, Mapping[str, float]]]) -> list[tuple[tuple[str, str], float]]:
    """(component, {counter: amount}) groups as ((component, counter), amount) pairs, in order."""
    return [((comp, name), float(v)) for comp, amounts in groups for name, v in amounts.items()]


class _Collector:
    """Stands in for an :class:`ActivityRecorder` where a component adds counters: keeps the additions, in
    order, as (component, {counter: amount})."""

    def __init__(self, groups: list) -> None:
        self.groups = groups

    def add_many(self, component: str, amounts: Mapping[str, float]) -> None:
        self.groups.append((component, amounts))


class _MoveTiming(NamedTuple):
    """A tile's DRAM transfers issued together: their DRAM occupancy (cycles, latency excluded), the kind of
    the first, and the global buffer's port cycles and access kind for their bytes."""

    occupancy: float
    kind: str
    gb_cycles: int
    gb_kind: str


class _TileTiming(NamedTuple):
    """What the tile process (:meth:`Machine._tile`) needs of a :class:`~des.work.TileWork`, computed once
    per tile object: buffer bytes taken and given back, the loads and write-backs (None: none), the compute
    jobs (unit, component, cycles, kind), the global-buffer port cycles of the compute phase and the
    partial-sum merge's cycles (None: no merge)."""

    alloc_bytes: float
    release_bytes: float
    loads: _MoveTiming | None
    jobs: tuple
    operand_cycles: int
    result_cycles: int
    merge_cycles: int | None
    writes: _MoveTiming | None


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

    def turn(self, env: simpy.Environment, t: int) -> simpy.Event | None:
        """None when ticket ``t`` may go now, else the event that fires at its turn (wait, then :meth:`take`)."""
        if t > self._done:
            ev = self._waiters[t] = env.event()
            return ev
        return None

    def take(self, t: int) -> None:
        """Ticket ``t`` takes its turn: the next ticket's waiter (if any) may go."""
        self._done = t + 1
        nxt = self._waiters.pop(self._done, None)
        if nxt is not None:
            nxt.succeed()


@dataclass
class SkippedSpan:
    """One fast-forwarded stretch of a node: ``periods`` repetitions of ``period_tiles``, each taking
    ``period_cycles``, not simulated; their time goes in at ``cut_cycle`` (the node's simulated time)."""

    periods: int
    period_cycles: float
    cut_cycle: float
    period_tiles: list


@dataclass
class FastForward:
    """Steady-state fast-forward of one node's repeating tiles, filled in by :meth:`Machine.run_tiles`.

    A double-buffered pipeline of identical tiles (or periods of tiles) settles into a periodic schedule
    after a few; once ``warmup_periods`` consecutive periods took the same cycles, the following ones are
    not simulated (``spans``, in order of their cut): their counters are those of their tiles (the caller
    counts every tile); their components are busy at the fractions of the last simulated period; the caller
    shifts what was recorded after each cut and accounts the rest."""

    warmup_periods: int = 2
    spans: list[SkippedSpan] = field(default_factory=list)


def _all_equal(xs: list[float]) -> bool:
    return max(xs) - min(xs) <= 1e-9 * max(xs[-1], 1.0)


def _run_ends(tiles: list[TileWork]) -> list[int]:
    """For each tile, the index of the last tile of its run of identical consecutive tiles (one memo: the
    same object or copies)."""
    out = [0] * len(tiles)
    end = len(tiles) - 1
    for i in range(len(tiles) - 1, -1, -1):
        if i < len(tiles) - 1 and tiles[i].memo is not tiles[i + 1].memo:
            end = i
        out[i] = end
    return out


def _prefer_runs(tiles: list[TileWork], period: int, warmup: int, depth: int) -> bool:
    """Whether skipping inside runs of identical tiles leaves fewer tiles to simulate than skipping whole
    periods (estimates: a run costs its warm-up, the tiles in flight and its last tile; whole periods cost
    a first period, the warm-up periods and the last)."""
    n = len(tiles)
    by_runs = 0
    start = 0
    for i in range(1, n + 1):
        if i == n or tiles[i].memo is not tiles[i - 1].memo:
            by_runs += min(i - start, warmup + depth + 2)
            start = i
    by_periods = min(n, (warmup + 3) * period)
    return by_runs < by_periods
