"""Event traces of one simulation run in the Chrome / Perfetto trace-event format (JSON).

Open the file in https://ui.perfetto.dev (Open trace file) or chrome://tracing. One process, the run; its
tracks (threads):

* ``steps``: a slice per network evaluation (sampling step);
* ``nodes``: a slice per workload-graph node per step (the engine runs a step's nodes one after another and
  steps back to back, so node ``i`` of step ``t`` starts at the step's start plus the cycles of the nodes
  before it); args: cycles, executed MACs, DRAM bytes, array utilization;
* one track per hardware component (``dram``, ``global_buffer``, ``dense_cluster``, ...): a slice per busy
  interval (a tile's transfer or compute; overlapping intervals of one component, e.g. two buffer ports,
  are merged). Spans the engine fast-forwarded (steady state, :class:`des.machine.FastForward`) hold no
  intervals: they are slices on a ``<component> (fast-forwarded)`` track whose ``busy_fraction`` arg is
  the steady-state duty;
* counters: ``DRAM bandwidth (GB/s)``, each node's DRAM bytes over its duration (exact per node, flat
  within it), and ``busy (%)``, each component's busy share per time bin (the global buffer's included).

Not recorded by the simulator, so not in the trace: buffer **occupancy** (bytes held over time); the
global buffer's busy share stands in for it, and says how hard its ports work, not how full it is.

Timestamps are microseconds (``cycles / (clock_ghz * 1e3)``), as the format wants. The report must come
from ``simulate(..., keep_intervals=True)`` for the component tracks; without intervals only steps,
nodes and the DRAM counter are written.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["trace_events", "write_trace", "check_trace", "MAX_TRACE_SLICES", "COUNTER_BINS"]

MAX_TRACE_SLICES = 400_000
"""Busy-interval slices per component at most (~100 bytes each in the JSON); beyond it the shortest gaps
between intervals are closed (neighbouring intervals merged) until it fits, and the track is named so."""
COUNTER_BINS = 1000
"""Time bins of the ``busy (%)`` counter."""

_PID = 1


def _r(x: float) -> float:
    return round(float(x), 4)


def _span(a_cycles: float, b_cycles: float, us: float) -> dict:
    """ts and dur (microseconds) of [a, b) cycles, rounded so that back-to-back slices stay back to back."""
    ts, end = _r(a_cycles * us), _r(b_cycles * us)
    return {"ts": ts, "dur": max(0.0, round(end - ts, 4))}


def _meta(tid: int, name: str, sort: int) -> list[dict]:
    return [{"name": "thread_name", "ph": "M", "pid": _PID, "tid": tid, "args": {"name": name}},
            {"name": "thread_sort_index", "ph": "M", "pid": _PID, "tid": tid, "args": {"sort_index": sort}}]


def _cap(starts: np.ndarray, ends: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """At most ``limit`` intervals: keep the ``limit - 1`` widest gaps, merge across the others."""
    if starts.size <= limit:
        return starts, ends, False
    gaps = starts[1:] - ends[:-1]
    keep = np.zeros(gaps.size, dtype=bool)
    keep[np.argsort(gaps, kind="stable")[-(limit - 1):]] = True
    new = np.concatenate([[True], keep])
    group = np.cumsum(new) - 1
    ms = starts[new]
    me = np.zeros(ms.size)
    np.maximum.at(me, group, ends)
    return ms, me, True


def trace_events(report: Any, *, max_slices: int = MAX_TRACE_SLICES, bins: int = COUNTER_BINS) -> dict:
    """The trace document (a dict with ``traceEvents``) of a :class:`des.report.Report`."""
    from components import COMPONENT_NAMES
    from components.stats import covered_before, merge_intervals
    us = 1.0 / (float(report.clock_ghz) * 1e3)  # microseconds per cycle
    ev: list[dict] = [{"name": "process_name", "ph": "M", "pid": _PID, "tid": 0,
                       "args": {"name": f"sqdm: {report.model} on {report.hardware}"}}]
    # steps
    per_step = np.asarray(report.cycles_per_step, dtype=float)
    step_start = np.concatenate([[0.0], np.cumsum(per_step)[:-1]])
    ev += _meta(1, "steps", 0)
    for t, (s, d) in enumerate(zip(step_start, per_step)):
        ev.append({"name": f"step {t}", "ph": "X", "pid": _PID, "tid": 1, **_span(s, s + d, us),
                   "args": {"step": t, "cycles": float(d)}})
    # nodes
    ev += _meta(2, "nodes", 1)
    nc = np.asarray(report.node_cycles, dtype=float)  # [nodes, steps]
    starts = step_start[None, :] + np.cumsum(nc, axis=0) - nc
    dram = report.node_dram_moved_bytes
    macs = report.node_executed_macs
    util = report.node_array_utilization
    bw_points: list[tuple[float, float]] = []
    for t in range(nc.shape[1]):
        for i, node in enumerate(report.node_ids):
            d = nc[i, t]
            if d <= 0:
                continue
            args: dict[str, Any] = {"step": t, "cycles": float(d)}
            if macs is not None:
                args["executed_macs"] = float(macs[i, t])
            if dram is not None:
                args["dram_bytes"] = float(dram[i, t])
                bw_points.append((starts[i, t], float(dram[i, t]) / d * report.clock_ghz))  # B/cycle x GHz = GB/s
            if util is not None and np.isfinite(util[i, t]):
                args["array_utilization"] = float(util[i, t])
            ev.append({"name": node, "ph": "X", "pid": _PID, "tid": 2, **_span(starts[i, t], starts[i, t] + d, us),
                       "args": args})
    total = float(report.total_cycles)
    if bw_points:
        last = None
        for ts, v in bw_points:
            if v != last:
                ev.append({"name": "DRAM bandwidth (GB/s)", "ph": "C", "pid": _PID, "tid": 0, "ts": _r(ts * us),
                           "args": {"GB/s": _r(v)}})
                last = v
        ev.append({"name": "DRAM bandwidth (GB/s)", "ph": "C", "pid": _PID, "tid": 0, "ts": _r(total * us),
                   "args": {"GB/s": 0.0}})
    # components
    data = report.interval_data
    if data is not None:
        comp = np.asarray(data["component"], dtype=object)
        s_all = np.asarray(data["start_cycles"], dtype=float)
        e_all = np.asarray(data["end_cycles"], dtype=float)
        duty = list(data.get("duty", ()))
        names = sorted(set(comp.tolist()) | {c for _, _, f in duty for c in f},
                       key=lambda c: (COMPONENT_NAMES.index(c) if c in COMPONENT_NAMES else 99, c))
        edges = np.linspace(0.0, total, bins + 1) if total > 0 else np.zeros(bins + 1)
        busy_share: dict[str, np.ndarray] = {}
        for k, name in enumerate(names):
            tid = 10 + 2 * k
            sel = comp == name
            ms, me = merge_intervals(s_all[sel], e_all[sel])
            cov = covered_before(edges, ms, me) if total > 0 else np.zeros(bins + 1)
            ms, me, capped = _cap(ms, me, max_slices)
            ev += _meta(tid, name + (" (intervals merged to fit)" if capped else ""), 10 + 2 * k)
            for a, b in zip(ms, me):
                ev.append({"name": name, "ph": "X", "pid": _PID, "tid": tid, **_span(a, b, us)})
            spans = [(a, b, f[name]) for a, b, f in duty if f.get(name)]
            if spans:
                ev += _meta(tid + 1, f"{name} (fast-forwarded)", 11 + 2 * k)
                for a, b, f in spans:
                    ev.append({"name": f"{name} steady state {100 * f:.0f}% busy", "ph": "X", "pid": _PID,
                               "tid": tid + 1, **_span(a, b, us),
                               "args": {"busy_fraction": float(f)}})
                    cov = cov + f * np.clip(edges - a, 0.0, b - a)
            width = edges[1] - edges[0] if total > 0 else 1.0
            busy_share[name] = np.diff(cov) / width
        for j in range(bins if total > 0 else 0):
            ev.append({"name": "busy (%)", "ph": "C", "pid": _PID, "tid": 0, "ts": _r(edges[j] * us),
                       "args": {n: _r(100 * busy_share[n][j]) for n in names}})
    return {"traceEvents": ev, "displayTimeUnit": "ns",
            "otherData": {"format": "sqdm-trace", "model": report.model, "hardware": report.hardware,
                          "policy": report.policy, "steps": int(report.steps), "clock_ghz": float(report.clock_ghz),
                          "total_cycles": total,
                          "not_recorded": "buffer occupancy (bytes held); 'busy (%)' shows port activity instead"}}


def write_trace(report: Any, path: str | os.PathLike) -> Path:
    """Write the trace of ``report`` (from ``simulate(..., keep_intervals=True)``) to ``path`` atomically."""
    from components.fileio import atomic_write_text
    doc = trace_events(report)
    return atomic_write_text(Path(os.fspath(path)), json.dumps(doc, separators=(",", ":")))


_REQUIRED = {"X": ("name", "ph", "ts", "dur", "pid", "tid"), "C": ("name", "ph", "ts", "pid", "args"),
             "M": ("name", "ph", "pid", "args")}


def check_trace(doc: Any) -> int:
    """Check ``doc`` against the trace-event format (JSON object form; phases X, C, M as used here): the
    fields each phase requires, their types, non-negative times, numeric counter values, and that the
    complete (X) slices of one thread nest (no partial overlap, which the viewers cannot draw). Returns
    the number of events; raises ValueError naming the first fault."""
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        raise ValueError("trace: not an object with a traceEvents list")
    by_thread: dict[tuple, list[tuple[float, float]]] = {}
    for k, e in enumerate(doc["traceEvents"]):
        ph = e.get("ph") if isinstance(e, dict) else None
        if ph not in _REQUIRED:
            raise ValueError(f"trace event {k}: phase {ph!r} is not one of {sorted(_REQUIRED)}")
        for f in _REQUIRED[ph]:
            if f not in e:
                raise ValueError(f"trace event {k} ({ph}): missing '{f}'")
        if not isinstance(e["name"], str) or not isinstance(e["pid"], int):
            raise ValueError(f"trace event {k}: name must be a string and pid an integer")
        if "tid" in e and not isinstance(e["tid"], int):
            raise ValueError(f"trace event {k}: tid must be an integer")
        for f in ("ts", "dur"):
            if f in e and (not isinstance(e[f], (int, float)) or isinstance(e[f], bool) or not np.isfinite(e[f])
                           or e[f] < 0):
                raise ValueError(f"trace event {k}: {f}={e[f]!r} must be a finite number >= 0")
        if ph == "C" and (not isinstance(e["args"], dict) or not e["args"]
                          or not all(isinstance(v, (int, float)) for v in e["args"].values())):
            raise ValueError(f"trace event {k}: a counter's args must map series names to numbers")
        if ph == "M" and e["name"] in ("process_name", "thread_name") and not isinstance(e["args"].get("name"), str):
            raise ValueError(f"trace event {k}: {e['name']} needs args.name")
        if ph == "X":
            by_thread.setdefault((e["pid"], e["tid"]), []).append((float(e["ts"]), float(e["ts"]) + float(e["dur"])))
    for key, spans in by_thread.items():
        spans.sort(key=lambda se: (se[0], -se[1]))
        stack: list[float] = []
        for s, e in spans:
            while stack and stack[-1] <= s + 1e-6:
                stack.pop()
            if stack and e > stack[-1] + 1e-6:
                raise ValueError(f"trace: thread {key}: slice [{s}, {e}] overlaps its neighbour without nesting")
            stack.append(e)
    return len(doc["traceEvents"])
