"""Running a whole sampling loop: N network evaluations, each with its step's sparsity and the labels the
detector produced from earlier steps, on one SimPy machine.

The run is three small parts:

* :class:`StepDriver` (a SimPy process) runs the nodes of each step in execution order. A ReLU whose
  output feeds sparse-eligible MACs is where the detector works: before the step's counts are taken, the
  label policy labels that tensor's channels for this step (from earlier counts) and the wrong labels are
  counted against the true zero fractions; then the step's counts are observed (update latency on the
  critical path). Eligible MACs route their sparse channels to the sparse cluster. A node that hosts a
  prefetch (the plan says so) reads the next MAC node's first weight chunk into free buffer space in its
  idle DRAM time (:meth:`des.machine.Machine.prefetch_into_idle_time`); its span ends when both are done.
* :class:`ReplayCache`: a node whose work does not depend on the step (no sparse channel, weights already
  loaded) gives the same result every step (nodes start on a drained machine), so it is simulated once
  and replayed: its duration, counters and busy intervals.
* :class:`TimingMemo`: a step-dependent node whose tiles have the same phase cycles as at an earlier step
  (its timing signature) reuses that step's schedule (duration, busy intervals) and analytical cycles, and
  counts its own work's counters.
* :class:`ReportAccumulator` collects counters, per-node arrays and busy intervals and builds the
  :class:`~des.report.Report`.

:class:`SamplingLoop` holds what a run needs and runs any range of its steps on a fresh machine: the
whole loop, or one process's share when :mod:`des.parallel` splits the steps.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace

import networkx as nx
import numpy as np

from components import (DENSE_CLUSTER, DRAM, GLOBAL_BUFFER, SPARSE_CLUSTER, ActivityRecorder, EnergyModel,
                        HardwareConfig, UnsupportedFormatError, labels_from_zero_fraction, make_policy,
                        merge_intervals)
from components.stats import covered_before
from workloads import MAC_KINDS, SparsityProfile, WorkloadError, eligible_nodes

from .analytical import node_cycles as analytical_node_cycles
from .machine import FastForward, Machine
from .mapping import plan_graph
from .plan import NodePlan
from .precision import require_annotations
from .report import Report, energy_by_level_operand
from .residency import Residency, plan_residency
from .work import StepWork, place_channels, tile_works

__all__ = ["simulate", "SimulationError"]

TIMELINE_BINS = 200


class SimulationError(ValueError):
    """A run that cannot be simulated as specified (format unsupported, profile too short, ...)."""


# -- replay ---------------------------------------------------------------------------------------------
@dataclass
class _Cached:
    cycles: float
    analytical_cycles: float
    counters: dict
    intervals: tuple  # (starts, ends, component codes, duty spans) relative to the node start


class ReplayCache:
    """Results of step-independent nodes, keyed by (node, loads resident weights at this step)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._store: dict[tuple, _Cached] = {}

    def key(self, node: str, plan: NodePlan, work: StepWork, hosts_first_eval_prefetch: bool = False) -> tuple | None:
        """The replay key of a node at a step, or None when its work depends on the step. The first
        evaluation differs where the node loads resident weights or prefetches the next node's."""
        if not self.enabled or (work.sparse_mask is not None and work.sparse_mask.any()) or (
                work.compressed_mask is not None and work.compressed_mask.any()):
            return None
        return node, work.first_eval and (plan.weight_first_eval_bytes > 0 or hosts_first_eval_prefetch)

    def get(self, key: tuple | None) -> _Cached | None:
        return self._store.get(key) if key is not None else None

    def put(self, key: tuple | None, entry: _Cached) -> None:
        if key is not None:
            self._store[key] = entry


@dataclass
class _Timed:
    """A node's schedule at some step: its cycles, what the schedule itself counted (the buffer's
    allocations) and its intervals and duty spans relative to the node start (as :meth:`ReportAccumulator.absorb`
    returns them)."""

    cycles: float
    counters: dict
    intervals: tuple


class TimingMemo:
    """Schedules and analytical cycles of step-dependent nodes, keyed by the node, its fast-forward period,
    the prefetch it hosts and its tiles' timing signature (:meth:`des.machine.Machine.timing_signature`).

    A sparse node's work changes every step, but what its schedule depends on (each tile's phase cycles,
    buffer bytes) often does not: a slightly different density may leave every cycle count the same. Such
    a step reuses the schedule (time, busy intervals) of the earlier one and adds its own counters, which
    are exact for its work; the analytical model is a function of the same numbers. The reused times are
    the earlier ones shifted to this node's start: exact where event times are binary fractions (the shipped
    machine), else equal to ~1e-11 (as :class:`ReplayCache`'s). Bounded by the intervals it holds (the oldest
    schedules are dropped first)."""

    MAX_INTERVALS = 2_000_000  # held over all schedules: ~36 MB (two float64 and an int16 per interval)
    MAX_ANALYTICAL = 1 << 16  # closed forms held (a float each)

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._timed: dict[tuple, _Timed] = {}
        self._analytical: dict[tuple, float] = {}
        self._intervals = 0

    def key(self, node: str, m: Machine, tiles: list, period: int, pre: float) -> tuple | None:
        return (node, period, pre, m.timing_signature(tiles)) if self.enabled else None

    def get(self, key: tuple | None) -> _Timed | None:
        return self._timed.get(key) if key is not None else None

    def put(self, key: tuple | None, entry: _Timed) -> None:
        if key is None:
            return
        self._timed[key] = entry
        self._intervals += len(entry.intervals[0]) + len(entry.intervals[3])
        while self._intervals > self.MAX_INTERVALS and len(self._timed) > 1:
            old = self._timed.pop(next(iter(self._timed)))
            self._intervals -= len(old.intervals[0]) + len(old.intervals[3])

    def analytical(self, key: tuple | None, hw: HardwareConfig, tiles: list, pre: float) -> float:
        """:func:`des.analytical.node_cycles` of ``tiles`` (hosting a prefetch of ``pre`` bytes), memoized."""
        c = self._analytical.get(key) if key is not None else None
        if c is None:
            c = analytical_node_cycles(hw, tiles, prefetch_bytes=pre)
            if key is not None:
                if len(self._analytical) >= self.MAX_ANALYTICAL:
                    self._analytical.pop(next(iter(self._analytical)))
                self._analytical[key] = c
        return c


@dataclass
class _Segment:
    """Consecutive step-independent nodes replayed as one block: node indices, each node's cycles and its
    share of the per-node arrays, the summed counters and the intervals relative to the segment start."""

    end: int
    idx: np.ndarray
    cycles_each: np.ndarray
    analytical_each: np.ndarray
    macs_each: np.ndarray
    slots_each: np.ndarray
    moved_each: np.ndarray
    cycles: float
    counters: dict
    intervals: tuple

    @classmethod
    def build(cls, idx: list[int], entries: list[_Cached], acc: "ReportAccumulator") -> "_Segment":
        cyc = np.array([e.cycles for e in entries])
        offsets = np.concatenate([[0.0], np.cumsum(cyc)[:-1]])
        counters: dict = {}
        macs, slots, moved = np.zeros(len(idx)), np.zeros(len(idx)), np.zeros(len(idx))
        for j, e in enumerate(entries):
            for k, v in e.counters.items():
                counters[k] = counters.get(k, 0.0) + v
            macs[j], slots[j], moved[j] = _node_shares(e.counters)
        parts = [(e.intervals[0] + off, e.intervals[1] + off, e.intervals[2]) for e, off in zip(entries, offsets)
                 if len(e.intervals[0])]
        duty = [(a + off, b + off, f) for e, off in zip(entries, offsets) for a, b, f in e.intervals[3]]
        ivs = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
               np.concatenate([p[2] for p in parts])) if parts else _EMPTY
        return cls(idx[-1] + 1, np.array(idx), cyc, np.array([e.analytical_cycles for e in entries]), macs, slots,
                   moved, float(cyc.sum()), counters, ivs + (duty,))


def _node_shares(counters: dict, start: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> tuple[float, float, float]:
    """(executed MACs, array MAC slots, DRAM bytes moved) in a node's counters, added to ``start`` one
    counter after the other."""
    sums = [*start, 0.0]
    for k, v in counters.items():
        share = _SHARE.get(k)
        if share is None:
            share = _SHARE[k] = _share_of(k)
        sums[share] += v
    return sums[0], sums[1], sums[2]


# -- accumulation -----------------------------------------------------------------------------------------
def _share_of(key: tuple[str, str]) -> int:
    """Which per-node array a counter adds to: 0 executed MACs, 1 array MAC slots, 2 DRAM bytes moved, 3 none."""
    comp, name = key
    if comp in (DENSE_CLUSTER, SPARSE_CLUSTER):
        return 0 if name.startswith("macs.") else 1 if name == "mac_slots" else 3
    return 2 if key == (DRAM, "bytes_moved") else 3


_SHARE: dict[tuple[str, str], int] = {}  # counter -> _share_of(counter), as met

_EMPTY = (np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int16))  # + duty spans


@dataclass
class ReportAccumulator:
    """Everything a run records, per node and step, until the report is built."""

    nodes: int
    steps: int
    totals: dict = field(default_factory=dict)
    chunks: list = field(default_factory=list)
    duty: list = field(default_factory=list)  # (start, end, {component: busy fraction}) of fast-forwarded spans
    codes: dict = field(default_factory=dict)  # component name -> interval code
    step_end: list = field(default_factory=list)
    log: list | None = None  # when a list: every addition to the totals, in order (to merge ranges exactly)
    origin: float = 0.0  # the cycle at which this record starts (a range after its warm-up step: des.parallel)

    def __post_init__(self) -> None:
        shape = (self.nodes, self.steps)
        self.cycles = np.zeros(shape)
        self.analytical = np.zeros(shape)
        self.macs = np.zeros(shape)  # executed MACs (both clusters)
        self.mac_slots = np.zeros(shape)  # array MAC slots while computing (both clusters)
        self.moved = np.zeros(shape)  # DRAM bytes moved (whole bursts)

    def add_totals(self, counters: dict) -> None:
        """Add a node's (or segment's) counters to the run's totals (logged when :attr:`log` is a list)."""
        if self.log is not None:
            self.log.append(counters)
        totals = self.totals
        for k, v in counters.items():
            totals[k] = totals.get(k, 0.0) + v

    def add_label_cost(self, cycles: float, oracle_cycles: float) -> None:
        """Add a node's wrong-label cost: its cycles minus those with the step's true labels."""
        if self.log is not None:
            self.log.append((cycles, oracle_cycles))
        key = ("detector", "wrong_label_cycles")
        self.totals[key] = self.totals.get(key, 0.0) + cycles - oracle_cycles

    def add_counters(self, counters: dict, i: int, t: int) -> None:
        """Add node i's counters at step t to the totals and to its executed MACs, MAC slots and DRAM bytes
        moved (each added in the counters' order, as one addition after the other into the arrays)."""
        self.add_totals(counters)
        self.macs[i, t], self.mac_slots[i, t], self.moved[i, t] = _node_shares(
            counters, (float(self.macs[i, t]), float(self.mac_slots[i, t]), float(self.moved[i, t])))

    def absorb(self, rec: ActivityRecorder, start: float, i: int, t: int) -> tuple:
        """Take a recorder's counters, intervals and duty spans for node i at step t; returns the intervals
        and duty spans relative to ``start`` (for replay)."""
        self.add_counters(rec.counters, i, t)
        duty = [(a - start, b - start, frac) for a, b, frac in rec.duty]
        self.duty.extend((a + start, b + start, frac) for a, b, frac in duty)
        s, e, names = rec.interval_columns()
        if not len(s):
            return _EMPTY + (duty,)
        code_of = {c: self.code(c) for c in dict.fromkeys(names)}  # new codes in first-seen order
        codes = np.fromiter(map(code_of.__getitem__, names), dtype=np.int16, count=len(names))
        self.chunks.append((s, e, codes))
        return s - start, e - start, codes, duty

    def replay_segment(self, seg: _Segment, start: float, t: int) -> None:
        self.add_totals(seg.counters)
        self.cycles[seg.idx, t] = seg.cycles_each
        self.analytical[seg.idx, t] = seg.analytical_each
        self.macs[seg.idx, t] += seg.macs_each
        self.mac_slots[seg.idx, t] += seg.slots_each
        self.moved[seg.idx, t] += seg.moved_each
        s, e, codes, duty = seg.intervals
        if len(s):
            self.chunks.append((s + start, e + start, codes))
        self.duty.extend((a + start, b + start, frac) for a, b, frac in duty)

    def code(self, component: str) -> int:
        """A small integer for a component name (intervals store codes, not strings)."""
        c = self.codes.get(component)
        if c is None:
            c = self.codes[component] = len(self.codes)
        return c

    def replay(self, c: _Cached, start: float, i: int, t: int) -> None:
        self.add_counters(c.counters, i, t)
        self.replay_intervals(c.intervals, start)

    def replay_intervals(self, intervals: tuple, start: float) -> None:
        """Add intervals and duty spans relative to a node start (as :meth:`absorb` returns them) at ``start``."""
        s, e, codes, duty = intervals
        if len(s):
            self.chunks.append((s + start, e + start, codes))
        self.duty.extend((a + start, b + start, frac) for a, b, frac in duty)

    def merge(self, part: "ReportAccumulator", first: int, stop: int, offset: float) -> None:
        """Append ``part``, the record of steps ``first`` .. ``stop - 1`` simulated on a machine of their own
        (from cycle ``part.origin``), as if they had run here from cycle ``offset`` (:mod:`des.parallel`). The
        totals are added again in ``part``'s order (its :attr:`log`), so they equal one process's to the bit."""
        for entry in part.log:
            if isinstance(entry, dict):
                self.add_totals(entry)
            else:
                self.add_label_cost(*entry)
        shift = offset - part.origin
        for name in ("cycles", "analytical", "macs", "mac_slots", "moved"):
            getattr(self, name)[:, first:stop] = getattr(part, name)[:, first:stop]
        remap = np.array([self.code(c) for c in sorted(part.codes, key=part.codes.get)], dtype=np.int16)
        self.chunks.extend((s + shift, e + shift, remap[codes]) for s, e, codes in part.chunks)
        self.duty.extend((a + shift, b + shift, frac) for a, b, frac in part.duty)
        self.step_end.extend(x + shift for x in part.step_end)


# -- driving ----------------------------------------------------------------------------------------------
class StepDriver:
    """Runs every node of every step on one machine (see the module docstring)."""

    ORACLE_BLOCK = 32  # steps whose oracle placements are computed at once (bounds their memory: a row per step)

    def __init__(self, m: Machine, hw: HardwareConfig, plans: dict[str, NodePlan], profile: SparsityProfile | None,
                 uses_sparse: bool, sources: dict[str, str], acc: ReportAccumulator, cache: ReplayCache,
                 bar=None, fast_forward: bool = True) -> None:
        self.m, self.hw, self.plans, self.acc, self.cache, self.bar = m, hw, plans, acc, cache, bar
        self.fast_forward = fast_forward
        self.order = list(plans)
        self.index = {n: i for i, n in enumerate(self.order)}
        self.zf = profile.zero_fraction if profile is not None else {}
        self.uses_sparse, self.sources = uses_sparse, sources
        self.prefetch_for = {p.prefetch_host: n for n, p in plans.items() if p.prefetched_weight_bytes > 0}
        self._segments: dict[int, _Segment | None] = {}
        self.timings = TimingMemo(cache.enabled)
        self._placed: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # node -> its last placement
        self._oracles: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}  # node -> (first step, labels, placements)
        self._stop = 0  # the step the running range ends before
        self.replay_from = 2  # the first step that replays segments (the third this driver runs)

    def run(self, steps: int, first: int = 0):
        """Process body: steps ``first`` .. ``steps - 1`` (a run that starts mid-loop: :mod:`des.parallel`).
        From step :attr:`replay_from` on, runs of consecutive step-independent nodes are replayed as one
        segment (one event, vectorized bookkeeping) once each of them is cached."""
        n_nodes = len(self.order)
        self._stop = steps
        for t in range(first, steps):
            labels: dict[str, np.ndarray] = {}
            i = 0
            while i < n_nodes:
                seg = self._segment(i) if t >= self.replay_from and self.cache.enabled else None
                if seg is not None:
                    yield from self._replay_segment(seg, t)
                    i = seg.end
                    continue
                yield from self._node(self.order[i], t, labels)
                i += 1
            self.acc.step_end.append(self.m.env.now)
            if self.bar is not None:
                self.bar.update(1)

    def _static(self, n: str) -> bool:
        """Whether node ``n``'s work is the same at every step after the first (no labels, no sparse work)."""
        p = self.plans[n]
        if self.uses_sparse and n in self.sources and self.m.detector is not None:
            return False
        return not (self.uses_sparse and p.kind == "mac" and p.sparse_eligible)

    def _segment(self, i0: int) -> "_Segment | None":
        """The segment of consecutive static, cached nodes starting at index ``i0`` (built once)."""
        if i0 in self._segments:
            return self._segments[i0]
        idx, entries = [], []
        i = i0
        while i < len(self.order) and self._static(self.order[i]):
            n = self.order[i]
            if self.plans[n].kind == "fused":
                entry = _Cached(0.0, 0.0, {}, _EMPTY + ([],))
            else:
                entry = self.cache.get((n, False))
                if entry is None:
                    break
            idx.append(i)
            entries.append(entry)
            i += 1
        seg = _Segment.build(idx, entries, self.acc) if len(idx) >= 2 else None
        self._segments[i0] = seg
        return seg

    def _replay_segment(self, seg: "_Segment", t: int):
        start = self.m.env.now
        yield self.m.env.timeout(seg.cycles)
        self.acc.replay_segment(seg, start, t)

    def _node(self, n: str, t: int, labels: dict):
        env, p, i = self.m.env, self.plans[n], self.index[n]
        start = env.now
        detect = self.uses_sparse and n in self.sources and self.m.detector is not None
        if detect:  # labels for this step come from earlier counts, before this step's are taken
            rec = self._recorder()  # the wrong-label counts land here
            labels[n] = self.m.detector.assess(n, t, true_zero_fraction=self.zf[self.sources[n]][t])
            self.acc.absorb(rec, start, i, t)
        if p.kind == "fused":  # runs in its producer's write-back: only the zero counting is left
            if detect:
                yield from self._count_zeros(n, t, p)
            self.acc.cycles[i, t] = self.acc.analytical[i, t] = env.now - start
            return
        assessed = labels.get(p.sparse_source) if self.uses_sparse and p.kind == "mac" and p.sparse_eligible else None
        route = lab = None
        if assessed is not None:
            lab, est = assessed
            route = self._place(p, lab, est)
        work = StepWork(sparse_mask=route, compressed_mask=lab, zero_fraction=self.zf[n][t] if n in self.zf else None,
                        first_eval=(t == 0))
        nxt = self.prefetch_for.get(n)
        pre = self.plans[nxt].prefetch_bytes_at(t == 0) if nxt is not None else 0.0
        key = self.cache.key(n, p, work, hosts_first_eval_prefetch=bool(
            nxt is not None and self.plans[nxt].weight_first_eval_bytes > 0))
        hit = self.cache.get(key)
        if hit is not None:
            yield env.timeout(hit.cycles)
            self.acc.replay(hit, start, i, t)
            self.acc.analytical[i, t] = hit.analytical_cycles
        else:
            tiles = tile_works(p, self.hw, work)
            period = p.chunks if p.kind == "mac" and p.bands > 1 else 1
            tkey = self.timings.key(n, self.m, tiles, period, pre)
            timed = self.timings.get(tkey)
            if timed is None:
                rec = self._recorder()
                ff = FastForward() if self.fast_forward else None
                yield env.process(self.m.run_tiles(tiles, n, period, ff))
                if ff is not None and ff.spans:
                    yield from self._fast_forward(ff, rec)
                if pre > 0:  # the next node's first weights, read in this node's idle DRAM time
                    yield from self.m.prefetch_into_idle_time(pre, start, nxt)
                timing_counters = rec.counters  # the buffer's allocations: what the schedule itself counts
                self._count(tiles, pre, rec)
                rel = self.acc.absorb(rec, start, i, t)
                self.timings.put(tkey, _Timed(env.now - start, timing_counters, rel))
            else:  # the same schedule as at an earlier step: its time and intervals, this step's counters
                yield env.timeout(timed.cycles)
                rec = ActivityRecorder()
                rec.add_counts(timed.counters.items())
                self._count(tiles, pre, rec)
                self.acc.add_counters(rec.counters, i, t)
                rel = timed.intervals
                self.acc.replay_intervals(rel, start)
            self.acc.analytical[i, t] = self.timings.analytical(tkey, self.hw, tiles, pre)
            if lab is not None and work.zero_fraction is not None:
                self._label_cost(p, t, work, self.acc.analytical[i, t], pre)
            if key is not None:
                self.cache.put(key, _Cached(env.now - start, self.acc.analytical[i, t], rec.counters, rel))
        if detect:  # an unfused ReLU pass counts zeros at its own write-back
            self.acc.analytical[i, t] += yield from self._count_zeros(n, t, p)
        self.acc.cycles[i, t] = env.now - start

    def _count(self, tiles: list, pre: float, rec: ActivityRecorder) -> None:
        """Add the counters of a node's tiles and of the prefetch it hosts (``pre`` bytes) to ``rec``."""
        self.m.count_tiles(tiles, rec)
        if pre > 0:
            self.m.count_prefetch(pre, rec)

    def _label_cost(self, p: NodePlan, t: int, work: StepWork, cycles: float, pre: float) -> None:
        """What this node's wrong labels cost: its analytical cycles minus those with labels and placement
        from the true zero fractions of the step (the oracle's); counted as the detector's
        ``wrong_label_cycles`` (negative where a wrong label happened to help)."""
        truth, route = self._oracle(p, t)
        if np.array_equal(truth, work.compressed_mask):
            return
        self._placed[p.node] = (truth, work.zero_fraction, route)  # the next step's placement, under per-step labels
        tiles = tile_works(p, self.hw, replace(work, sparse_mask=route, compressed_mask=truth))
        # costed directly: its timing signature would cost more than the closed form it could save
        self.acc.add_label_cost(cycles, analytical_node_cycles(self.hw, tiles, prefetch_bytes=pre))

    def _oracle(self, p: NodePlan, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The labels from step t's true zero fractions and the placement they give (the oracle's): they are
        known from the profile, so the next :attr:`ORACLE_BLOCK` steps this run has left are placed at once,
        a row per step (:func:`des.work.place_channels`), when first asked for."""
        table = self._oracles.get(p.node)
        if table is None or not table[0] <= t < table[0] + len(table[1]):
            zf = self.zf[p.node][t:min(self._stop, t + self.ORACLE_BLOCK)]
            truth = labels_from_zero_fraction(zf, self.hw.detector.threshold)
            routes = place_channels(p, self.hw, truth, zf)
            routes.setflags(write=False)
            table = self._oracles[p.node] = (t, truth, routes)
        return table[1][t - table[0]], table[2][t - table[0]]

    def _place(self, p: NodePlan, labels: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        """:func:`des.work.place_channels`, remembering each node's last placement: under per-step labels a
        node is placed at step t + 1 from the zero fractions its oracle placement (wrong-label cost) used at
        step t, so the second call is a lookup (same labels and estimates, bit for bit: same split)."""
        last = self._placed.get(p.node)
        if last is not None and np.array_equal(last[0], labels) and np.array_equal(last[1], estimate):
            return last[2]
        route = place_channels(p, self.hw, labels, estimate)
        route.setflags(write=False)
        self._placed[p.node] = (labels, estimate, route)
        return route

    def _fast_forward(self, ff: FastForward, rec: ActivityRecorder):
        """Account the fast-forwarded spans, in order: their time, their counters, their busy fractions."""
        gaps = [span.periods * span.period_cycles for span in ff.spans]
        windows = rec.insert_gaps([(span.cut_cycle, gap, span.period_cycles) for span, gap in zip(ff.spans, gaps)])
        shift = 0.0  # time already inserted before the next span's cut
        for span, gap, window in zip(ff.spans, gaps, windows):
            cut = span.cut_cycle + shift
            allocations = sum(1 for tw in span.period_tiles if tw.footprint_bytes + tw.band_alloc_bytes > 0)
            rec.add(GLOBAL_BUFFER, "allocations", allocations * span.periods)  # the tiles' own counters: run_tiles
            if gap > 0:
                rec.add_duty(cut, cut + gap, window)
            shift += gap
        if shift > 0:
            yield self.m.env.timeout(shift)

    def _recorder(self) -> ActivityRecorder:
        rec = ActivityRecorder()
        self.m.use_stats(rec)
        return rec

    def _count_zeros(self, n: str, t: int, p: NodePlan):
        """The detector takes step t's zero counts of ReLU ``n``; returns the cycles it took."""
        env = self.m.env
        rec = self._recorder()
        before = env.now
        # inside this node's process (no process of its own: two SimPy events less per count)
        yield from self.m.detector.observe(n, t, self.zf[self.sources[n]][t], elements=p.out_elements, tag=n)
        self.acc.absorb(rec, before, self.index[n], t)
        return env.now - before


@dataclass
class SamplingLoop:
    """Everything a run of the sampling loop needs, prepared once; :meth:`run_range` simulates any range of
    its steps on a machine of its own (the whole loop, or one process's share of it)."""

    hw: HardwareConfig
    plans: dict[str, NodePlan]
    profile: SparsityProfile | None
    uses_sparse: bool
    sources: dict[str, str]  # ReLU -> a sparse-eligible consumer (whose zero fractions it writes)
    calibration: dict[str, np.ndarray]
    working_bytes: float  # global buffer left to the tiles
    steps: int
    reuse: bool = True
    fast_forward: bool = True

    def run_range(self, first: int, stop: int, bar=None, log: bool = False) -> tuple[ReportAccumulator, float, int]:
        """Simulate steps ``first`` .. ``stop - 1`` on a fresh machine; returns their record, the cycles they
        took and the SimPy events scheduled.

        Nodes start on a drained machine, so a range run alone takes what it takes inside the whole loop.
        What carries over between steps is the detector's labels, which a range after the first resumes
        from its latest accepted update, and the replay cache, which it warms as the whole loop would have
        by then: it first runs the step before ``first`` unrecorded (after it every step-independent node
        is cached, as in the whole loop from step 2 on, so from ``first`` on it replays the same segments
        and its record is the whole loop's). ``log``: keep the record's
        :attr:`ReportAccumulator.log` (to merge it with others')."""
        m = Machine(self.hw, self.working_bytes, calibration=self.calibration)
        warm = max(0, first - 1)
        if warm > 0 and self.uses_sparse and m.detector is not None:
            updates = [t for t in range(warm) if m.detector.policy.accepts_update(t)]
            if updates:
                for relu, consumer in self.sources.items():
                    m.detector.assume_update(relu, updates[-1], self.profile.zero_fraction[consumer][updates[-1]])
        acc = ReportAccumulator(len(self.plans), self.steps, log=[] if log else None)
        driver = StepDriver(m, self.hw, self.plans, self.profile, self.uses_sparse, self.sources, acc,
                            ReplayCache(self.reuse), None if warm < first else bar, self.fast_forward)
        driver.replay_from = max(2, first)
        if warm < first:  # the warm-up step, recorded in an accumulator that is then dropped
            m.env.process(driver.run(first, warm))
            m.env.run()
            acc = ReportAccumulator(len(self.plans), self.steps, codes=dict(acc.codes), log=[] if log else None,
                                    origin=float(m.env.now))
            driver.acc, driver.bar = acc, bar
        m.env.process(driver.run(stop, first))
        m.env.run()
        return acc, float(m.env.now) - acc.origin, m.env.events_scheduled


# -- entry point ----------------------------------------------------------------------------------------
def _check_formats(g: nx.DiGraph, hw: HardwareConfig, plans: dict) -> None:
    for n, p in plans.items():
        if p.kind != "mac":
            continue
        try:
            if hw.dense_cluster is not None:
                hw.dense_cluster.rate(p.fmt, DENSE_CLUSTER)
            if hw.sparse_cluster is not None and (p.sparse_eligible or hw.dense_cluster is None):
                hw.sparse_cluster.rate(p.fmt, SPARSE_CLUSTER)
        except UnsupportedFormatError as e:
            policy = g.graph.get("precision", {}).get("policy", "?")
            raise SimulationError(f"node '{n}': {e} (machine '{hw.name}', policy '{policy}': choose a policy "
                                  f"this machine runs, e.g. --policy {hw.default_policy or 'NAME'})") from None


def simulate(g: nx.DiGraph, hw: HardwareConfig, *, steps: int = 1, profile: SparsityProfile | None = None,
             progress: bool | None = None, reuse: bool = True, mapping_hw: HardwareConfig | None = None,
             fast_forward: bool = True, keep_intervals: bool = False, plan_cache: bool = False,
             jobs: int = 1) -> Report:
    """Simulate ``steps`` network evaluations of policy-annotated workload graph ``g`` on machine ``hw``.

    ``profile`` gives the zero fractions of the sparse-eligible inputs for at least ``steps`` steps; it
    is required when the machine has a sparse cluster and the graph has eligible nodes. ``reuse=False``
    simulates every node at every step (for checking that reuse changes nothing). ``mapping_hw`` tiles the
    graph as for that machine instead (to compare machines under one fixed mapping). ``fast_forward=False``
    simulates every tile as events instead of fast-forwarding steady-state periods
    (:class:`des.machine.FastForward`). ``keep_intervals=True`` keeps every busy interval in
    ``Report.interval_data`` (for event traces; memory grows with the run). ``plan_cache=True`` reads the
    tiling plans from the prepared-plan cache (:mod:`des.plan_cache`) when it has them, and stores them when
    it does not (the command line does; results are the same either way). ``jobs`` > 1 splits the steps
    into up to that many consecutive ranges simulated by as many processes at once (:mod:`des.parallel`),
    where the run has per-step work (a sparse cluster and a detector that counts) and the platform can fork;
    the report equals one process's (to the bit where event times are exact binary fractions, as on the
    shipped machine), but for ``Report.events``.
    """
    t0 = time.perf_counter()
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
        raise SimulationError(f"steps={steps!r} must be a positive integer")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs <= 0:
        raise SimulationError(f"jobs={jobs!r} must be a positive integer")
    require_annotations(g)
    elig = eligible_nodes(g)
    # the detector policy "off" counts nothing and labels nothing: eligible nodes run as dense work
    uses_sparse = hw.sparse_cluster is not None and bool(elig) and make_policy(hw.detector).counts_zeros
    if profile is not None:
        try:
            profile.validate(g)
        except WorkloadError as e:
            raise SimulationError(str(e)) from None
        if profile.steps < steps:
            raise SimulationError(f"profile has {profile.steps} steps, the run asks for {steps}")
    elif uses_sparse:
        raise SimulationError(f"machine '{hw.name}' has a sparse cluster and '{g.graph.get('model')}' has "
                              f"{len(elig)} sparse-eligible nodes: a sparsity profile is needed")
    res = plan_residency(g, mapping_hw or hw)
    # the tiling search costs each sparse-eligible node with the zero fractions the detector starts from
    expected = {n: profile.calibration(n) for n in elig} if uses_sparse and profile is not None else None
    if plan_cache:
        from .plan_cache import prepared_plans
        plans = prepared_plans(g, mapping_hw or hw, res, expected)
    else:
        plans = plan_graph(g, mapping_hw or hw, res, expected)
    _check_formats(g, hw, plans)
    zf = profile.zero_fraction if profile is not None else {}
    # ReLU node -> one of its sparse-eligible consumers (they all read the same zeros); the detector
    # counts zeros at these ReLUs and labels their channels.
    sources: dict[str, str] = {}
    for n in elig:
        sources.setdefault(g.nodes[n]["sparse_source"], n)
    calibration = {r: profile.calibration(c) for r, c in sources.items() if c in zf}
    loop = SamplingLoop(hw, plans, profile, uses_sparse, sources, calibration,
                        hw.global_buffer.capacity_bytes - res.reserved_bytes, steps, reuse, fast_forward)
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=f"simulate {g.graph.get('model', '')}", unit="step", file=sys.stderr)
    try:
        if jobs > 1 and uses_sparse:
            from .parallel import run_in_ranges
            acc, total, events = run_in_ranges(loop, jobs, bar)
        else:
            acc, total, events = loop.run_range(0, steps, bar)
    finally:
        if bar is not None:
            bar.close()
    rep = _build_report(g, hw, profile, steps, list(plans), acc, total, res, time.perf_counter() - t0)
    rep.events = events
    if keep_intervals:
        rep.interval_data = _interval_data(acc)
    return rep


def _interval_data(acc: ReportAccumulator) -> dict:
    names = np.array(sorted(acc.codes, key=acc.codes.get) or [""], dtype=object)
    if acc.chunks:
        starts = np.concatenate([c[0] for c in acc.chunks])
        ends = np.concatenate([c[1] for c in acc.chunks])
        codes = np.concatenate([c[2] for c in acc.chunks])
        order = np.argsort(starts, kind="stable")
        starts, ends, codes = starts[order], ends[order], codes[order]
    else:
        starts = ends = np.zeros(0)
        codes = np.zeros(0, dtype=np.int16)
    return {"start_cycles": starts, "end_cycles": ends, "component": names[codes] if len(codes) else names[:0],
            "step_end_cycles": list(acc.step_end), "duty": list(acc.duty)}


_DUTY_BLOCK = 2048  # fast-forwarded spans added to the timeline at once (bounds the scratch array)


def _add_duty(duty: list, comp: str, edges: np.ndarray, busy: float, cov: np.ndarray) -> tuple[float, np.ndarray]:
    """``comp``'s busy time and coverage before each edge, plus the fast-forwarded spans' share: each span
    (a, b, fractions) adds ``f x (b - a)`` to the busy time and ``f x clip(edge - a, 0, b - a)`` to the
    coverage. The spans are added in order, one after the other (``np.add.accumulate``), as a loop over them
    would, but with array operations over all spans at once."""
    spans = [(a, b, frac[comp]) for a, b, frac in duty if frac.get(comp, 0.0)]
    if not spans:
        return busy, cov
    a, b, f = (np.array(col, dtype=float) for col in zip(*spans))
    busy = float(np.add.accumulate(np.concatenate([[busy], f * (b - a)]))[-1])
    for i in range(0, len(spans), _DUTY_BLOCK):
        aa, bb, ff = a[i:i + _DUTY_BLOCK, None], b[i:i + _DUTY_BLOCK, None], f[i:i + _DUTY_BLOCK, None]
        terms = ff * np.clip(edges[None, :] - aa, 0.0, bb - aa)
        cov = np.add.accumulate(np.concatenate([cov[None, :], terms]), axis=0)[-1]
    return busy, cov


def _build_report(g: nx.DiGraph, hw: HardwareConfig, profile: SparsityProfile | None, steps: int, order: list,
                  acc: ReportAccumulator, total: float, res: Residency, wall: float) -> Report:
    if acc.chunks:
        starts = np.concatenate([c[0] for c in acc.chunks])
        ends = np.concatenate([c[1] for c in acc.chunks])
        codes = np.concatenate([c[2] for c in acc.chunks])
    else:
        starts = ends = np.zeros(0)
        codes = np.zeros(0, dtype=np.int16)
    busy, util, tl = {}, {}, {}
    edges = np.linspace(0.0, total, TIMELINE_BINS + 1)
    duty_comps = {c for _, _, frac in acc.duty for c in frac}
    width = edges[1] - edges[0] if total else 1.0
    for comp in sorted(set(acc.codes) | duty_comps):
        sel = codes == acc.codes.get(comp, -1)
        ms, me = merge_intervals(starts[sel], ends[sel])
        busy[comp] = float(np.sum(me - ms))
        cov = covered_before(edges, ms, me) if total else np.zeros(len(edges))
        # fast-forwarded spans: busy at the steady-state fraction throughout
        busy[comp], cov = _add_duty(acc.duty, comp, edges, busy[comp], cov)
        util[comp] = busy[comp] / total if total else 0.0
        tl[comp] = list(np.diff(cov) / width) if total else [0.0] * TIMELINE_BINS
    totals = acc.totals
    counters = {f"{c}.{k}": v for (c, k), v in sorted(totals.items())}
    model = EnergyModel(hw)
    energy = model.energy_pj(totals, total)
    per_step = list(np.diff([0.0] + acc.step_end))
    graph_macs = float(sum(d["macs"] for _, d in g.nodes(data=True))) * steps
    dense_exec = sum(v for (c, k), v in totals.items() if c == DENSE_CLUSTER and k.startswith("macs."))
    sparse_exec = sum(v for (c, k), v in totals.items() if c == SPARSE_CLUSTER and k.startswith("macs."))
    skipped = totals.get((SPARSE_CLUSTER, "skipped_macs"), 0.0)
    det = {k: totals.get(("detector", k), 0.0) for k in ("labels_used", "wrong_labels", "wrong_sparse_labels",
                                                         "wrong_dense_labels", "label_updates", "wrong_label_cycles")}
    det["label_accuracy"] = 1.0 - det["wrong_labels"] / det["labels_used"] if det["labels_used"] else 1.0
    compulsory = res.weight_bytes * (1 if res.weights_resident else steps)

    def level_bytes(comp: str, prefix: str) -> float:
        return sum(v for (c, k), v in totals.items() if c == comp and (k == prefix or k.startswith(prefix + ".")))

    bytes_ = {"dram_read_bytes": totals.get((DRAM, "useful_bytes_read"), 0.0),
              "dram_write_bytes": totals.get((DRAM, "useful_bytes_write"), 0.0),
              "dram_useful_bytes": totals.get((DRAM, "useful_bytes"), 0.0),
              "dram_moved_bytes": totals.get((DRAM, "bytes_moved"), 0.0),
              "dram_row_misses": totals.get((DRAM, "row_misses"), 0.0),
              "weight_bytes": res.weight_bytes, "weights_resident": float(res.weights_resident),
              "compulsory_weight_dram_bytes": compulsory}
    for comp in hw.buffers():
        key = comp.replace(".", "_")
        bytes_[f"{key}_read_bytes"] = level_bytes(comp, "read_bytes")
        bytes_[f"{key}_write_bytes"] = level_bytes(comp, "write_bytes")
    with np.errstate(invalid="ignore", divide="ignore"):
        node_util = np.where(acc.mac_slots > 0, acc.macs / np.maximum(acc.mac_slots, 1e-300), np.nan)
    area = hw.area_mm2().by_component
    return Report(model=str(g.graph.get("model", "")), hardware=hw.name,
                  policy=str(g.graph.get("precision", {}).get("policy", "")), steps=steps,
                  batch=int(g.graph.get("config", {}).get("effective_batch", 1)),
                  profile_kind=profile.kind if profile is not None else "none", clock_ghz=hw.clock_ghz,
                  total_cycles=total, cycles_per_step=per_step, node_ids=order, node_cycles=acc.cycles,
                  analytical_node_cycles=acc.analytical, busy_cycles=busy, utilization=util,
                  timeline_bin_cycles=total / TIMELINE_BINS if total else 0.0, utilization_timeline=tl,
                  bytes=bytes_, energy_dynamic_pj=dict(energy.dynamic_pj), energy_static_pj=dict(energy.static_pj),
                  energy_by_level_operand_pj=energy_by_level_operand(model, totals),
                  macs={"graph_macs": graph_macs, "dense_executed_macs": dense_exec,
                        "sparse_executed_macs": sparse_exec, "skipped_macs": skipped},
                  detector=det, area_mm2=dict(area), counters=counters, wall_seconds=wall, intervals=len(starts),
                  node_executed_macs=acc.macs, node_dram_moved_bytes=acc.moved, node_array_utilization=node_util,
                  mac_layer_cycles=float(acc.cycles[[g.nodes[n].get("kind") in MAC_KINDS for n in order]].sum()))
