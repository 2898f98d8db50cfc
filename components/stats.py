"""ActivityRecorder: the one place every component writes what it did.

Two kinds of records:
- intervals (start_cycle, end_cycle, component, kind, tag): when a component was busy and doing what;
  appended to plain Python lists (cheap: ~1e5 intervals cost a few MB and ~50 ms) and turned into
  numpy arrays on demand;
- counters: (component, name) -> float, e.g. ("dram", "bytes_moved"), ("dense_cluster", "macs.int4").
  components.energy.EnergyModel prices the energy-relevant counters.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping

import numpy as np

INTERVAL_DTYPE = np.dtype(
    [("start_cycle", "f8"), ("end_cycle", "f8"), ("component", "U40"), ("kind", "U24"), ("tag", "U64")]
)


class ActivityRecorder:
    """Collects busy intervals and event counters of all components of one simulation."""

    def __init__(self) -> None:
        self._start: list[float] = []
        self._end: list[float] = []
        self._component: list[str] = []
        self._kind: list[str] = []
        self._tag: list[str] = []
        self._counters: dict[tuple[str, str], float] = defaultdict(float)
        self.duty: list[tuple[float, float, dict[str, float]]] = []  # fast-forwarded spans (see add_duty)

    # ---- writing -----------------------------------------------------------------------------------
    def record(self, component: str, kind: str, start_cycle: float, end_cycle: float, tag: str = "") -> None:
        """Record that `component` was busy doing `kind` over [start_cycle, end_cycle)."""
        if end_cycle < start_cycle:
            raise ValueError(f"interval ends before it starts: {start_cycle} > {end_cycle} ({component}/{kind})")
        self._start.append(float(start_cycle))
        self._end.append(float(end_cycle))
        self._component.append(component)
        self._kind.append(kind)
        self._tag.append(tag)

    def add(self, component: str, counter: str, amount: float = 1.0) -> None:
        """Add `amount` to the counter (component, counter)."""
        self._counters[(component, counter)] += float(amount)

    def add_many(self, component: str, amounts: Mapping[str, float]) -> None:
        """Add several counters of one component."""
        for name, amount in amounts.items():
            self._counters[(component, name)] += float(amount)

    def add_counts(self, adds: Iterable[tuple[tuple[str, str], float]]) -> None:
        """Add ((component, counter), amount) pairs, in order."""
        counters = self._counters
        for key, amount in adds:
            counters[key] += float(amount)

    # ---- reading -----------------------------------------------------------------------------------
    @property
    def counters(self) -> dict[tuple[str, str], float]:
        """A copy of all counters."""
        return dict(self._counters)

    def counter(self, component: str, name: str) -> float:
        """One counter's value (0 if never written)."""
        return self._counters.get((component, name), 0.0)

    def component_counters(self, component: str) -> dict[str, float]:
        """All counters of one component, by name."""
        return {n: v for (c, n), v in self._counters.items() if c == component}

    @property
    def components(self) -> list[str]:
        """Components that recorded anything, sorted."""
        return sorted(set(self._component) | {c for c, _ in self._counters})

    def __len__(self) -> int:
        return len(self._start)

    def intervals(self, component: str | None = None, kind: str | None = None) -> np.ndarray:
        """Intervals as a structured array (INTERVAL_DTYPE), optionally filtered."""
        idx = self._select(component, kind)
        arr = np.empty(len(idx), dtype=INTERVAL_DTYPE)
        if len(idx):
            arr["start_cycle"] = np.asarray(self._start)[idx]
            arr["end_cycle"] = np.asarray(self._end)[idx]
            arr["component"] = [self._component[i] for i in idx]
            arr["kind"] = [self._kind[i] for i in idx]
            arr["tag"] = [self._tag[i] for i in idx]
        return arr

    def interval_columns(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(start cycles, end cycles, component names) of every interval, cheaply (no tags, no copies of
        the names as fixed-width strings)."""
        return np.asarray(self._start, dtype=float), np.asarray(self._end, dtype=float), list(self._component)

    def end_cycle(self) -> float:
        """Latest interval end (0 if none)."""
        return max(self._end, default=0.0)

    def busy_cycles(self, component: str, kind: str | None = None) -> float:
        """Cycles during which `component` did anything (union of its intervals: overlaps count once)."""
        starts, ends = self._merged(component, kind)
        return float(np.sum(ends - starts))

    def busy_cycles_sum(self, component: str, kind: str | None = None) -> float:
        """Sum of interval lengths (overlaps counted each time: e.g. port-cycles of a multi-port buffer)."""
        idx = self._select(component, kind)
        if not len(idx):
            return 0.0
        return float(np.sum(np.asarray(self._end)[idx] - np.asarray(self._start)[idx]))

    def utilization_timeline(
        self, component: str, bin_cycles: float, end_cycle: float | None = None, kind: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(bin start cycles, busy fraction per bin in [0, 1]) of `component` from cycle 0 to `end_cycle`
        (default: the last recorded interval end), bins of `bin_cycles`."""
        if bin_cycles <= 0:
            raise ValueError(f"bin_cycles must be > 0, got {bin_cycles}")
        end = self.end_cycle() if end_cycle is None else float(end_cycle)
        nbins = max(int(np.ceil(end / bin_cycles)), 1) if end > 0 else 0
        edges = np.arange(nbins + 1, dtype=float) * bin_cycles
        starts, ends = self._merged(component, kind)
        covered = covered_before(edges, starts, ends)
        return edges[:-1], np.diff(covered) / bin_cycles

    def add_duty(self, start_cycle: float, end_cycle: float, fractions: Mapping[str, float]) -> None:
        """A span whose components were busy at steady fractions throughout (fast-forwarded work)."""
        if end_cycle > start_cycle and fractions:
            self.duty.append((float(start_cycle), float(end_cycle), dict(fractions)))

    def insert_gap(self, cut_cycle: float, gap_cycles: float) -> None:
        """Shift everything recorded from `cut_cycle` on by `gap_cycles` (an interval across the cut is
        split): room for a fast-forwarded stretch of steady-state work."""
        self.insert_gaps([(cut_cycle, gap_cycles, 0.0)])

    def insert_gaps(self, spans: list[tuple[float, float, float]]) -> list[dict[str, float]]:
        """For each ``(cut_cycle, gap_cycles, window_cycles)``, in order of their cuts (given as before any gap
        is inserted): each component's busy fraction over the ``window_cycles`` before the cut
        (:meth:`busy_fraction`; {} for an empty window), then the gap inserted at the cut as
        :meth:`insert_gap` does it (later cuts move with it). One pass over the records for all spans."""
        out: list[dict[str, float]] = []
        if not self._start:
            return [{} for _ in spans]
        s, e = np.asarray(self._start, dtype=float), np.asarray(self._end, dtype=float)
        shift = 0.0
        changed = False
        for cut0, gap, window in spans:
            cut = cut0 + shift
            out.append(self._busy_in(s, e, cut - window, cut) if window > 0 else {})
            if gap <= 0:
                continue
            after = s >= cut
            across = (~after) & (e > cut)
            pieces = np.flatnonzero(across)
            tail_e = e[pieces] + gap  # the part after the cut, appended in index order
            s = np.where(after, s + gap, s)
            e = np.where(after, e + gap, np.where(across, cut, e))
            if len(pieces):
                s = np.concatenate([s, np.full(len(pieces), cut + gap)])
                e = np.concatenate([e, tail_e])
                for i in pieces.tolist():
                    self._component.append(self._component[i])
                    self._kind.append(self._kind[i])
                    self._tag.append(self._tag[i])
            shift += gap
            changed = True
        if changed:
            self._start, self._end = s.tolist(), e.tolist()
        return out

    def busy_fraction(self, start_cycle: float, end_cycle: float) -> dict[str, float]:
        """Per component, the fraction of [start_cycle, end_cycle) it was busy (union of its intervals)."""
        if end_cycle - start_cycle <= 0 or not self._start:
            return {}
        return self._busy_in(np.asarray(self._start, dtype=float), np.asarray(self._end, dtype=float),
                             start_cycle, end_cycle)

    def _busy_in(self, s: np.ndarray, e: np.ndarray, start_cycle: float, end_cycle: float) -> dict[str, float]:
        """:meth:`busy_fraction` over intervals (s, e) (this recorder's, possibly moved)."""
        out: dict[str, float] = {}
        width = end_cycle - start_cycle
        if width <= 0:
            return out
        inside = np.flatnonzero((s < end_cycle) & (e > start_cycle))
        ss = np.minimum(np.maximum(s[inside], start_cycle), end_cycle).tolist()  # clipped to the window
        ee = np.minimum(np.maximum(e[inside], start_cycle), end_cycle).tolist()
        by_comp: dict[str, tuple[list[float], list[float]]] = {}
        comps = self._component
        for j, i in enumerate(inside.tolist()):
            a, b = by_comp.setdefault(comps[i], ([], []))
            a.append(ss[j])
            b.append(ee[j])
        for comp in sorted(by_comp):
            busy = union_length(*by_comp[comp])
            if busy > 0:
                out[comp] = min(busy / width, 1.0)
        return out

    # ---- internals ---------------------------------------------------------------------------------
    def _select(self, component: str | None, kind: str | None) -> np.ndarray:
        n = len(self._start)
        if component is None and kind is None:
            return np.arange(n)
        comp = self._component
        kinds = self._kind
        return np.fromiter(
            (i for i in range(n) if (component is None or comp[i] == component) and (kind is None or kinds[i] == kind)),
            dtype=np.int64,
        )

    def _merged(self, component: str, kind: str | None) -> tuple[np.ndarray, np.ndarray]:
        idx = self._select(component, kind)
        if not len(idx):
            return np.zeros(0), np.zeros(0)
        s = np.asarray(self._start)[idx]
        e = np.asarray(self._end)[idx]
        return merge_intervals(s, e)


def merge_intervals(starts: Iterable[float], ends: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals [s, e) as sorted, disjoint (starts, ends) arrays."""
    s = np.asarray(starts, dtype=float)
    e = np.asarray(ends, dtype=float)
    if s.size == 0:
        return s, e
    if s.size <= _SMALL_MERGE:
        return _merge_small(s.tolist(), e.tolist())
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    run_end = np.maximum.accumulate(e)
    # a new merged interval starts where s exceeds every previous end
    new = np.ones(s.size, dtype=bool)
    new[1:] = s[1:] > run_end[:-1]
    group = np.cumsum(new) - 1
    ms = s[new]
    me = np.zeros(ms.size)
    np.maximum.at(me, group, e)
    return ms, me


_SMALL_MERGE = 32  # up to this many intervals a Python loop beats the array operations
_SEQUENTIAL_SUM = 7  # numpy adds up to 7 float64 one after the other (8 or more: pairwise, unrolled)


def union_length(starts: list[float], ends: list[float]) -> float:
    """``float(np.sum(me - ms))`` of ``merge_intervals(starts, ends)``: the length of the union, the same
    number bit for bit; a few intervals without numpy."""
    if len(starts) > _SEQUENTIAL_SUM:
        ms, me = merge_intervals(starts, ends)
        return float(np.sum(me - ms))
    ms, me = _merge_small_lists(starts, ends)
    total = 0.0
    for a, b in zip(ms, me):
        total += b - a
    return total


def _merge_small(starts: list[float], ends: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`merge_intervals` of a few intervals, the same loop in Python: the same merged intervals (each
    end the largest end of its group, at least 0, as ``np.maximum.at`` into zeros gives)."""
    ms, me = _merge_small_lists(starts, ends)
    return np.array(ms), np.array(me)


def _merge_small_lists(starts: list[float], ends: list[float]) -> tuple[list[float], list[float]]:
    """:func:`_merge_small` as lists."""
    ms: list[float] = []
    me: list[float] = []
    run_end = 0.0
    for i in sorted(range(len(starts)), key=starts.__getitem__):  # stable, as the argsort
        s, e = starts[i], ends[i]
        if not ms or s > run_end:
            ms.append(s)
            me.append(e if e > 0.0 else 0.0)
            run_end = e
        else:
            if e > me[-1]:
                me[-1] = e
            if e > run_end:
                run_end = e
    return ms, me


def covered_before(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Busy time in [0, p) for each p, given disjoint sorted intervals."""
    if starts.size == 0:
        return np.zeros_like(points)
    lengths = ends - starts
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    k = np.searchsorted(starts, points, side="left")  # intervals starting before p: indices < k
    out = cum[np.maximum(k - 1, 0)]
    last = np.maximum(k - 1, 0)
    partial = np.clip(points - starts[last], 0.0, lengths[last])
    return np.where(k > 0, out + partial, 0.0)

