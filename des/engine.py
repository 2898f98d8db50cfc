"""Running a whole sampling loop: N network evaluations, each with its step's sparsity and the labels the
detector produced from earlier steps, on one SimPy machine.

Per step, nodes run in execution order. A ReLU whose output feeds sparse-eligible MACs is where the
detector works: before the step's counts are taken, the label policy labels that tensor's channels for
this step (from earlier counts), and the wrong labels are counted against the true zero fractions; then
the step's counts are observed (update latency on the critical path). Eligible MACs route their sparse
channels to the sparse cluster.

Reuse: a node whose work does not depend on the step (no sparse channel, weights already loaded) gives
the same result every step, so it is simulated once and replayed (its duration, counters and busy
intervals); results are identical to simulating it again because nodes start on a drained machine.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import networkx as nx
import numpy as np

from components import (DENSE_CLUSTER, DRAM, GLOBAL_BUFFER, SPARSE_CLUSTER, ActivityRecorder, EnergyModel,
                        HardwareConfig, UnsupportedFormatError)
from workloads import SparsityProfile, WorkloadError, eligible_nodes

from .analytical import node_cycles as analytical_node_cycles
from .machine import Machine
from .mapping import plan_graph
from .precision import require_annotations
from .report import Report
from .residency import MAC_KINDS, plan_residency
from .work import StepWork, tile_works

__all__ = ["simulate", "SimulationError"]

TIMELINE_BINS = 200


class SimulationError(ValueError):
    """A run that cannot be simulated as specified (format unsupported, profile too short, ...)."""


@dataclass
class _Cached:
    cycles: float
    analytical_cycles: float
    counters: dict
    intervals: tuple  # (starts, ends, components, kinds) relative to the node start


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
             progress: bool | None = None, reuse: bool = True, mapping_hw: HardwareConfig | None = None) -> Report:
    """Simulate ``steps`` network evaluations of policy-annotated workload graph ``g`` on machine ``hw``.

    ``profile`` gives the zero fractions of the sparse-eligible inputs for at least ``steps`` steps; it
    is required when the machine has a sparse cluster and the graph has eligible nodes. ``reuse=False``
    simulates every node at every step (for checking that reuse changes nothing). ``mapping_hw`` tiles the
    graph as for that machine instead (to compare machines under one fixed mapping).
    """
    t0 = time.perf_counter()
    if not isinstance(steps, int) or steps <= 0:
        raise SimulationError(f"steps={steps!r} must be a positive integer")
    require_annotations(g)
    elig = eligible_nodes(g)
    uses_sparse = hw.sparse_cluster is not None and bool(elig)
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
    plans = plan_graph(g, mapping_hw or hw, res)
    _check_formats(g, hw, plans)
    order = list(plans)
    zf = profile.zero_fraction if profile is not None else {}
    # ReLU node -> one of its sparse-eligible consumers (they all read the same zeros); the detector
    # counts zeros at these ReLUs and labels their channels.
    sources: dict[str, str] = {}
    for n in elig:
        sources.setdefault(g.nodes[n]["sparse_source"], n)
    calibration = {r: zf[c].mean(axis=0) for r, c in sources.items() if c in zf}
    working = hw.global_buffer.capacity_bytes - res.reserved_bytes
    m = Machine(hw, working, calibration=calibration)
    env = m.env
    node_idx = {n: i for i, n in enumerate(order)}
    cyc = np.zeros((len(order), steps))
    ana = np.zeros((len(order), steps))
    node_macs = np.zeros((len(order), steps))  # executed MACs (both clusters)
    node_moved = np.zeros((len(order), steps))  # DRAM bytes moved (whole bursts)
    totals: dict[tuple[str, str], float] = {}
    chunks: list[tuple] = []
    cache: dict[tuple, _Cached] = {}
    step_end: list[float] = []
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=f"simulate {g.graph.get('model', '')}", unit="step", file=sys.stderr)

    def add_counters(c: dict, i: int | None = None, t: int = 0) -> None:
        for k, v in c.items():
            totals[k] = totals.get(k, 0.0) + v
            if i is not None:
                if k[1].startswith("macs.") and k[0] in (DENSE_CLUSTER, SPARSE_CLUSTER):
                    node_macs[i, t] += v
                elif k == (DRAM, "bytes_moved"):
                    node_moved[i, t] += v

    def count_zeros(n: str, t: int, p):
        """The detector takes step t's zero counts of ReLU ``n``; returns the cycles it took."""
        rec = ActivityRecorder()
        m.use_stats(rec)
        before = env.now
        yield env.process(m.detector.observe(n, t, zf[sources[n]][t], elements=p.out_elements, tag=n))
        _absorb(rec, before, node_idx[n], t)
        return env.now - before

    def driver():
        for t in range(steps):
            labels: dict[str, np.ndarray] = {}
            for n in order:
                p = plans[n]
                start = env.now
                key = None
                detect = uses_sparse and n in sources and m.detector is not None
                if detect:  # labels for this step come from earlier counts, before this step's are taken
                    rec = ActivityRecorder()
                    m.use_stats(rec)  # the wrong-label counts land here
                    labels[n] = m.detector.labels(n, t, true_zero_fraction=zf[sources[n]][t])
                    _absorb(rec, start, node_idx[n], t)
                if p.kind == "fused":  # runs in its producer's write-back: only the zero counting is left
                    if detect:
                        yield from count_zeros(n, t, p)
                    cyc[node_idx[n], t] = ana[node_idx[n], t] = env.now - start
                    continue
                mask = labels.get(p.sparse_source) if uses_sparse and p.kind == "mac" and p.sparse_eligible else None
                work = StepWork(sparse_mask=mask, zero_fraction=zf[n][t] if n in zf else None, first_eval=(t == 0))
                if reuse and (mask is None or not mask.any()):
                    key = (n, work.first_eval and (p.weight_first_eval_bytes > 0))
                if key is not None and key in cache:
                    c = cache[key]
                    yield env.timeout(c.cycles)
                    add_counters(c.counters, node_idx[n], t)
                    s, e, comp, kind = c.intervals
                    chunks.append((s + start, e + start, comp, kind))
                    ana[node_idx[n], t] = c.analytical_cycles
                else:
                    tiles = tile_works(p, hw, work)
                    rec = ActivityRecorder()
                    m.use_stats(rec)
                    yield env.process(m.run_tiles(tiles, n))
                    cached = _absorb(rec, start, node_idx[n], t)
                    ana[node_idx[n], t] = analytical_node_cycles(hw, tiles)
                    if key is not None:
                        cache[key] = _Cached(env.now - start, ana[node_idx[n], t], rec.counters, cached)
                if detect:  # an unfused ReLU pass counts zeros at its own write-back
                    ana[node_idx[n], t] += yield from count_zeros(n, t, p)
                cyc[node_idx[n], t] = env.now - start
            step_end.append(env.now)
            if bar is not None:
                bar.update(1)

    def _absorb(rec: ActivityRecorder, start: float, i: int, t: int) -> tuple:
        add_counters(rec.counters, i, t)
        iv = rec.intervals()
        if len(iv):
            rel = (iv["start_cycle"] - start, iv["end_cycle"] - start, iv["component"], iv["kind"])
            chunks.append((iv["start_cycle"], iv["end_cycle"], iv["component"], iv["kind"]))
            return rel
        empty = np.zeros(0)
        return (empty, empty, np.zeros(0, dtype="U40"), np.zeros(0, dtype="U24"))

    env.process(driver())
    env.run()
    if bar is not None:
        bar.close()
    total = float(env.now)
    rep = _build_report(g, hw, profile, steps, order, cyc, ana, totals, chunks, step_end, total, res,
                        time.perf_counter() - t0)
    rep.node_executed_macs, rep.node_dram_moved_bytes = node_macs, node_moved
    rep.events = int(next(env._eid))  # SimPy events scheduled (its event-id counter)
    return rep


def _busy(starts: np.ndarray, ends: np.ndarray) -> float:
    if not len(starts):
        return 0.0
    o = np.argsort(starts, kind="stable")
    s, e = starts[o], ends[o]
    run_end = np.maximum.accumulate(e)
    new = np.empty(len(s), dtype=bool)
    new[0] = True
    new[1:] = s[1:] > run_end[:-1]
    idx = np.flatnonzero(new)
    group_end = np.maximum.reduceat(e, idx)
    return float(np.sum(group_end - s[idx]))


def _timeline(starts: np.ndarray, ends: np.ndarray, total: float, bins: int) -> list[float]:
    """Busy fraction per bin (overlapping intervals of one component are merged first)."""
    if total <= 0 or not len(starts):
        return [0.0] * bins
    o = np.argsort(starts, kind="stable")
    s, e = starts[o], ends[o]
    run_end = np.maximum.accumulate(e)
    new = np.ones(len(s), dtype=bool)
    new[1:] = s[1:] > run_end[:-1]
    idx = np.flatnonzero(new)
    ms, me = s[idx], np.maximum.reduceat(e, idx)
    edges = np.linspace(0.0, total, bins + 1)
    width = edges[1] - edges[0]

    def covered(x: np.ndarray) -> np.ndarray:  # busy time in [0, x)
        full = np.clip(x[:, None] - ms[None, :], 0, (me - ms)[None, :])
        return full.sum(axis=1)

    cum = covered(edges) if len(ms) * (bins + 1) < 5_000_000 else _covered_sorted(edges, ms, me)
    return list(np.diff(cum) / width)


def _covered_sorted(points: np.ndarray, ms: np.ndarray, me: np.ndarray) -> np.ndarray:
    lengths = np.concatenate([[0.0], np.cumsum(me - ms)])
    k = np.searchsorted(ms, points, side="right")
    out = lengths[np.maximum(k - 1, 0)]
    part = np.where(k > 0, np.clip(points - ms[np.maximum(k - 1, 0)], 0, (me - ms)[np.maximum(k - 1, 0)]), 0.0)
    return out + part


def _build_report(g, hw, profile, steps, order, cyc, ana, totals, chunks, step_end, total, res, wall) -> Report:
    if chunks:
        starts = np.concatenate([c[0] for c in chunks])
        ends = np.concatenate([c[1] for c in chunks])
        comps = np.concatenate([c[2] for c in chunks])
    else:
        starts = ends = np.zeros(0)
        comps = np.zeros(0, dtype="U40")
    busy, util, tl = {}, {}, {}
    for comp in sorted(set(comps.tolist())):
        sel = comps == comp
        busy[comp] = _busy(starts[sel], ends[sel])
        util[comp] = busy[comp] / total if total else 0.0
        tl[comp] = _timeline(starts[sel], ends[sel], total, TIMELINE_BINS)
    counters = {f"{c}.{k}": v for (c, k), v in sorted(totals.items())}
    energy = EnergyModel(hw).energy_pj(totals, total)
    per_step = list(np.diff([0.0] + step_end))
    graph_macs = float(sum(d["macs"] for _, d in g.nodes(data=True))) * steps
    dense_exec = sum(v for (c, k), v in totals.items() if c == DENSE_CLUSTER and k.startswith("macs."))
    sparse_exec = sum(v for (c, k), v in totals.items() if c == SPARSE_CLUSTER and k.startswith("macs."))
    skipped = totals.get((SPARSE_CLUSTER, "skipped_macs"), 0.0)
    det = {k: totals.get(("detector", k), 0.0) for k in ("labels_used", "wrong_labels", "wrong_sparse_labels",
                                                         "wrong_dense_labels", "label_updates")}
    det["label_accuracy"] = 1.0 - det["wrong_labels"] / det["labels_used"] if det["labels_used"] else 1.0
    compulsory = res.weight_bytes * (1 if res.weights_resident else steps)
    bytes_ = {"dram_read_bytes": sum(v for (c, k), v in totals.items() if c == DRAM and k == "useful_bytes_read"),
              "dram_write_bytes": sum(v for (c, k), v in totals.items() if c == DRAM and k == "useful_bytes_write"),
              "dram_useful_bytes": totals.get((DRAM, "useful_bytes"), 0.0),
              "dram_moved_bytes": totals.get((DRAM, "bytes_moved"), 0.0),
              "dram_row_misses": totals.get((DRAM, "row_misses"), 0.0),
              "global_buffer_read_bytes": totals.get((GLOBAL_BUFFER, "read_bytes"), 0.0),
              "global_buffer_write_bytes": totals.get((GLOBAL_BUFFER, "write_bytes"), 0.0),
              "weight_bytes": res.weight_bytes, "weights_resident": float(res.weights_resident),
              "compulsory_weight_dram_bytes": compulsory}
    area = hw.area_mm2().by_component
    return Report(model=str(g.graph.get("model", "")), hardware=hw.name,
                  policy=str(g.graph.get("precision", {}).get("policy", "")), steps=steps,
                  batch=int(g.graph.get("config", {}).get("effective_batch", 1)),
                  profile_kind=profile.kind if profile is not None else "none", clock_ghz=hw.clock_ghz,
                  total_cycles=total, cycles_per_step=per_step, node_ids=order, node_cycles=cyc,
                  analytical_node_cycles=ana, busy_cycles=busy, utilization=util,
                  timeline_bin_cycles=total / TIMELINE_BINS if total else 0.0, utilization_timeline=tl,
                  bytes=bytes_, energy_dynamic_pj=dict(energy.dynamic_pj), energy_static_pj=dict(energy.static_pj),
                  macs={"graph_macs": graph_macs, "dense_executed_macs": dense_exec,
                        "sparse_executed_macs": sparse_exec, "skipped_macs": skipped},
                  detector=det, area_mm2=dict(area), counters=counters, wall_seconds=wall, intervals=len(starts))
