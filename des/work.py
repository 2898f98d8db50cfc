"""What one tile asks of the machine: DRAM transfers, global-buffer traffic, array mappings, vector ops.

This is the single description both the discrete-event machine (:mod:`des.machine`) and the analytical
model (:mod:`des.analytical`) execute, so they differ only in how they combine the costs (contention
and overlap in SimPy, a closed form in the analytical model).

Routing: a MAC node's input channels labelled sparse go to the sparse cluster, the others to the dense
cluster, and both work on the same tile at once; each computes partial sums over its channels, which
the vector unit adds (one add per output element) when both took part. The sparse cluster reads its
channels bitmap-compressed (non-zero values plus one bitmap bit per element) and executes only the
non-zero MACs; the dense cluster executes every MAC of its channels.

Memory levels and operands (Timeloop/Accelergy style access counts, bytes):
* DRAM -> global buffer: the tile's loads (``gb_fill``), written into the global buffer;
* global buffer -> a cluster's local buffer: the tile's input band (its channels; re-read once per
  output-channel group when the tile does not fit in the local buffer) and weight chunk (``gb_operand``);
* local buffer -> array: per the array mapping (:func:`components.map_tile`): each weight once, inputs
  once per output-channel group and fold, partial sums written and read back once per extra fold;
* array -> global buffer: the tile's outputs (``gb_result``); global buffer -> DRAM: the outputs that
  are written back (``gb_drain``).
Each level's counters carry the operand (``read_bytes.weights``, ``write_bytes.psums``, ...), so the
report can break energy down by level and operand.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, fields
from functools import lru_cache

import numpy as np

from components import (DENSE_LOCAL_BUFFER, SPARSE_LOCAL_BUFFER, AccessPattern, ArrayMapping, HardwareConfig,
                        TileShape, accumulator_bits, channel_subset_pattern, map_tile, peak_macs_per_cycle,
                        split_input_channels, split_output_channels)
from components.config import DenseClusterConfig
from components.placement import ChannelOrder

from .plan import NodePlan

__all__ = ["place_channels", "StepWork", "Transfer", "DenseJob", "SparseJob", "TileWork", "tile_works", "cluster_mapping",
           "prefetch_transfer"]


@dataclass(frozen=True)
class StepWork:
    """The step-dependent inputs of one node: where its input channels go (True = sparse array), which are
    sent compressed (the labels), and the true zero fractions."""

    sparse_mask: np.ndarray | None = None  # input channels routed to the sparse array (None: none by channel)
    zero_fraction: np.ndarray | None = None
    first_eval: bool = False
    compressed_mask: np.ndarray | None = None  # sparse-labelled channels, sent compressed (None: = sparse_mask)


@dataclass(frozen=True)
class Transfer:
    nbytes: float
    pattern: AccessPattern
    kind: str  # "read" | "write"
    tag: str  # the operand: inputs, weights, outputs (bitmaps travel with the sparse inputs)


@dataclass(frozen=True)
class DenseJob:
    macs: float
    fmt: str
    mapping: ArrayMapping

    @property
    def cycles(self) -> int:
        return self.mapping.cycles


@dataclass(frozen=True)
class SparseJob:
    dense_macs: float
    density: float
    fmt: str
    mapping: ArrayMapping | None  # None when no non-zero is left
    bitmap_elems: float
    metadata_cycles: int

    @property
    def cycles(self) -> int:
        return max(self.mapping.cycles if self.mapping is not None else 0, self.metadata_cycles)


@dataclass
class TileWork:
    loads: list[Transfer] = field(default_factory=list)
    writes: list[Transfer] = field(default_factory=list)
    dense: DenseJob | None = None
    sparse: SparseJob | None = None
    vector_elems: float = 0.0
    vector_kind: str = ""
    merge_elems: float = 0.0
    footprint_bytes: float = 0.0
    band_alloc_bytes: float = 0.0  # allocated by a band's first tile ...
    band_release_bytes: float = 0.0  # ... and freed by its last
    # global-buffer traffic by phase and operand (bytes)
    gb_fill: dict[str, float] = field(default_factory=dict)  # DRAM -> GB, during the loads
    gb_operand: dict[str, float] = field(default_factory=dict)  # GB -> local buffers / vector unit, during compute
    gb_result: dict[str, float] = field(default_factory=dict)  # array / vector unit -> GB, during compute
    gb_drain: dict[str, float] = field(default_factory=dict)  # GB -> DRAM, during the write-back
    # local-buffer accesses: component -> counter -> bytes (fills from the GB and reads by the array)
    local: dict[str, dict[str, float]] = field(default_factory=dict)
    # what the simulator derives from this tile (its phases, ...), computed once: not part of the work; tiles
    # built as copies of one another share it (see _copy_tile)
    memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # the same for what the node's tile variants share (compute, write-back: all but the loads and fill);
    # None when the tile shares nothing
    shared_memo: dict | None = field(default=None, init=False, repr=False, compare=False)


def prefetch_transfer(nbytes: float) -> Transfer:
    """A weight prefetch of ``nbytes``: one sequential read (the weights of a chunk are contiguous), which
    the DMA issues at the lowest priority, burst by burst, into the DRAM's idle time."""
    return Transfer(nbytes, AccessPattern.contiguous(nbytes), "read", "weights")


def _subset(hw: HardwareConfig, rows: int, cols: int, channels: int, selected: int, bytes_per_elem: float,
            scale: float) -> tuple[float, AccessPattern]:
    """Useful bytes and DRAM pattern of ``selected`` of ``channels`` channel planes (rows x cols each)."""
    if selected <= 0 or bytes_per_elem <= 0 or scale <= 0:
        return 0.0, AccessPattern(0, 0.0)
    useful, pattern = _subset_pattern(max(rows, 1), max(cols, 1), channels, selected, bytes_per_elem,
                                      hw.dram.address_mapping, hw.dram.burst_bytes)
    if scale < 1.0:  # only part of the operand comes from DRAM: shorten the runs, keep their number
        pattern = AccessPattern(pattern.runs, pattern.run_bytes * scale, pattern.stride_bytes)
    return useful * scale, pattern


def _slice_transfers(hw: HardwareConfig, plan: NodePlan, out_rows: int, oc_slice: int, total_bytes: float, bits: float,
                     kind: str) -> list[Transfer]:
    """The DRAM accesses of one slice (``out_rows`` output rows x ``oc_slice`` channels) of output-shaped
    tensors of ``total_bytes`` per evaluation at ``bits`` per element (its own tensor, tensors of fused ops,
    operands of fused residual adds): one transfer per whole tensor."""
    out: list[Transfer] = []
    if total_bytes <= 0 or bits <= 0:
        return out
    scale = total_bytes / (plan.out_elements * bits / 8)
    while scale > 1e-12:  # two fused tensors may both be stored
        b, p = _subset(hw, out_rows, plan.out_cols, plan.out_channels, oc_slice, bits / 8, min(scale, 1.0))
        out.append(Transfer(b, p, kind, "outputs" if kind == "write" else "inputs"))
        scale -= min(scale, 1.0)
    return out


def _add(d: dict[str, float], key: str, v: float) -> None:
    if v:
        d[key] = d.get(key, 0.0) + v


_MAPPINGS: dict[int, tuple[DenseClusterConfig, dict]] = {}  # id(cluster) -> (cluster, memo); cluster kept alive
_MAPPING_CLUSTERS = 16
_MAPPING_MEMO_ENTRIES = 1 << 16


def cluster_mapping(cluster: DenseClusterConfig, plan: NodePlan, reduction: float, positions: int,
                    out_channels: int, *, group: int | None = None) -> ArrayMapping:
    """The array mapping of a tile of ``plan`` with this reduction / positions / outputs on ``cluster``;
    memoized per cluster on everything of ``plan`` the mapping reads (the tiling search and the steps
    map the same tiles again and again)."""
    entry = _MAPPINGS.get(id(cluster))
    if entry is None or entry[0] is not cluster:
        if len(_MAPPINGS) >= _MAPPING_CLUSTERS:
            _MAPPINGS.pop(next(iter(_MAPPINGS)))
        entry = _MAPPINGS[id(cluster)] = (cluster, {})
    memo = entry[1]
    # the mapping depends on the reduction only through its whole-number ceiling (components.map_tile): memoized
    # on that, the tile's own MACs put in (a step-dependent reduction takes a new value every step)
    whole = max(math.ceil(reduction - 1e-9), 1) if reduction > 0 else reduction
    key = (plan.fmt, plan.new_input_fraction, plan.act_bits, plan.weight_bits, whole, positions, out_channels,
           group)
    m = memo.get(key)
    if m is None:
        if len(memo) >= _MAPPING_MEMO_ENTRIES:  # keep the memo bounded
            memo.clear()
        m = memo[key] = _cluster_mapping(cluster, plan, float(whole), positions, out_channels, group)
    return m if whole == reduction else m.with_macs(reduction * max(positions, 1) * max(out_channels, 1))


def _cluster_mapping(cluster: DenseClusterConfig, plan: NodePlan, reduction: float, positions: int,
                     out_channels: int, group: int | None) -> ArrayMapping:
    rate = cluster.rates.get(plan.fmt, 1.0)
    lb = cluster.local_buffer
    return map_tile(TileShape(reduction, max(positions, 1), max(out_channels, 1), plan.new_input_fraction),
                    cluster.multipliers, rate, cluster.distribution_bw_elems_per_cycle,
                    cluster.reduction_bw_elems_per_cycle, group, input_bytes_per_elem=plan.act_bits / 8,
                    weight_bytes_per_elem=plan.weight_bits / 8, psum_bytes_per_elem=accumulator_bits(plan.fmt) / 8,
                    local_bw_bytes_per_cycle=lb.ports * lb.bytes_per_cycle_per_port)


def tile_works(plan: NodePlan, hw: HardwareConfig, step: StepWork,
               which: list[tuple[int, int]] | None = None) -> list[TileWork]:
    """The tiles of ``plan`` at one step, in execution order (bands outer, chunks inner); ``which`` picks
    (band, chunk) tiles of a MAC node only (the tiling search costs a representative few).

    Tiles without step-dependent inputs (no channel masks: the tiling search, step-independent nodes) are
    memoized per machine on the plan's sizes (:func:`_work_key`): the tiling search costs the same tile
    shapes for many nodes and candidates. The tiles are shared between calls, so they must not be
    modified (nothing does); the list is a fresh one."""
    if plan.kind == "fused":
        return []
    if step.sparse_mask is not None or step.compressed_mask is not None:
        return _build_tiles(plan, hw, step, which)
    memo = _TILE_MEMO.get(id(hw))
    if memo is None or memo[0] is not hw:
        if len(_TILE_MEMO) >= _TILE_MEMO_MACHINES:
            _TILE_MEMO.pop(next(iter(_TILE_MEMO)))
        memo = _TILE_MEMO[id(hw)] = (hw, {})
    key = (_work_key(plan), _STEP_FIELDS(step), None if which is None else tuple(which))
    tiles = memo[1].get(key)
    if tiles is None:
        if len(memo[1]) >= _TILE_MEMO_ENTRIES:
            memo[1].pop(next(iter(memo[1])))
        tiles = memo[1][key] = _build_tiles(plan, hw, step, which)
    return list(tiles)


def _build_tiles(plan: NodePlan, hw: HardwareConfig, step: StepWork,
                 which: list[tuple[int, int]] | None) -> list[TileWork]:
    if plan.kind == "vector":
        return _vector_tiles(plan, hw, step)
    return _mac_tiles(plan, hw, step, which)


# NodePlan fields the tiles do not depend on (names, the search's own estimates); every other field is in
# the memo key, so a field added to NodePlan counts unless it is listed here.
_NOT_IN_WORK_KEY = frozenset({"node", "sparse_eligible", "sparse_source", "prefetch_host", "estimate_cycles",
                              "estimate_dram_cycles"})
_WORK_FIELDS = operator.attrgetter(*(f.name for f in fields(NodePlan) if f.name not in _NOT_IN_WORK_KEY))
# StepWork fields a mask-free step's tiles depend on: all but the masks and the zero fractions (read only
# for compressed channels); a field added to StepWork counts
_STEP_FIELDS = operator.attrgetter(*(f.name for f in fields(StepWork)
                                     if f.name not in {"sparse_mask", "compressed_mask", "zero_fraction"}))
_TILE_MEMO: dict[int, tuple[HardwareConfig, dict]] = {}  # id(hw) -> (hw, {key: tiles}); hw kept alive
_TILE_MEMO_MACHINES = 4
_TILE_MEMO_ENTRIES = 1 << 14


def _work_key(plan: NodePlan) -> tuple:
    """Everything of ``plan`` its tiles depend on (equal keys: equal tiles on one machine)."""
    return _WORK_FIELDS(plan)


def _vector_tiles(plan: NodePlan, hw: HardwareConfig, step: StepWork) -> list[TileWork]:
    """The equal slices of a vector node; the first also loads the parameters, the others are copies of
    one slice (:func:`_copy_tile`)."""
    t = plan.tiles
    w_dram = plan.weight_dram_bytes_per_band + (plan.weight_first_eval_bytes if step.first_eval else 0.0)
    first = _vector_tile(plan, w_dram)
    other = _vector_tile(plan, 0.0) if w_dram and t > 1 else first
    return [first] + [_copy_tile(other) for _ in range(t - 1)]


def _vector_tile(plan: NodePlan, w_dram: float) -> TileWork:
    """One slice of a vector node, loading ``w_dram`` bytes of parameters."""
    t = plan.tiles
    in_bytes, out_bytes = plan.in_elements * plan.act_bits / 8 / t, plan.out_elements * plan.out_bits / 8 / t
    w_bytes = plan.weight_elements * plan.weight_bits / 8
    tw = TileWork(vector_elems=plan.vector_elements / t, vector_kind=plan.vector_kind,
                  footprint_bytes=plan.tile_footprint_bytes)
    for total in (plan.in_dram_bytes, plan.fused_in_dram_bytes):  # its input, a fused residual add's operand
        if total:
            b = total / t
            tw.loads.append(Transfer(b, AccessPattern.contiguous(b), "read", "inputs"))
    if w_dram:
        tw.loads.append(Transfer(w_dram, AccessPattern.contiguous(w_dram), "read", "weights"))
    for total in (plan.out_dram_bytes, plan.fused_out_dram_bytes):  # its tensor, those of ops fused into it
        if total:
            b = total / t
            tw.writes.append(Transfer(b, AccessPattern.contiguous(b), "write", "outputs"))
            _add(tw.gb_drain, "outputs", b)
    for x in tw.loads:
        _add(tw.gb_fill, x.tag, x.nbytes)
    _add(tw.gb_operand, "inputs", in_bytes + plan.fused_in_bytes / t)
    _add(tw.gb_operand, "weights", w_bytes / t)
    _add(tw.gb_result, "outputs", out_bytes)
    return tw


def _copy_tile(tw: TileWork) -> TileWork:
    """A tile with the same work as ``tw`` (its own object: counted as a tile of its own) that shares its
    lists, dicts and memo (a tile is never modified once built), so what the simulator derives from the work
    is computed once for both."""
    out = object.__new__(TileWork)
    out.__dict__.update(tw.__dict__)
    return out


def place_channels(plan: NodePlan, hw: HardwareConfig, labels: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """The input channels of MAC node ``plan`` the sparse array computes this step, from the detector's
    labels and estimated zero fractions (:func:`components.split_input_channels`). Under ``balanced``
    placement the split is refined once with each array's mapping efficiency for the first split (a
    per-layer table a compiler knows), so that both arrays finish together rather than their peaks.

    ``labels`` and ``estimate`` may hold several steps, a row each (the oracle's placements of a whole
    run, known from the profile): each row is placed as it would be alone."""
    dense, sparse = hw.dense_cluster, hw.sparse_cluster
    dp, sp = peak_macs_per_cycle(dense, plan.fmt), peak_macs_per_cycle(sparse, plan.fmt)
    policy, imb = hw.detector.placement, sparse.load_imbalance
    if policy != "balanced" or sp <= 0 or dp <= 0:
        return split_input_channels(labels, estimate, dp, sp, imb, policy)
    channels = ChannelOrder(labels, estimate, imb)  # sorted once, split twice
    route = channels.split(dp, sp)
    c = max(plan.in_channels, 1)
    positions = math.ceil(plan.out_rows / plan.bands) * plan.out_cols
    oc = max(1, math.ceil(plan.out_channels / plan.chunks))
    redo, dense_peaks, sparse_peaks = [], [], []
    rows = route.reshape(-1, route.shape[-1])
    costs = channels.sparse_cost.reshape(rows.shape)
    taken = rows.sum(axis=-1)  # channels on the sparse array, per row
    for r in np.flatnonzero((taken > 0) & (taken < rows.shape[-1])).tolist():  # rows that use both arrays
        on_sparse = costs[r][rows[r]].sum()
        u_d = cluster_mapping(dense, plan, plan.reduction * (c - taken[r]) / c, positions, oc).utilization
        u_s = cluster_mapping(sparse, plan, plan.reduction * on_sparse / c, positions, oc,
                              group=sparse.benes_group_multipliers).utilization if on_sparse > 0 else 1.0
        redo.append(r)
        dense_peaks.append(dp * max(u_d, 1e-3))
        sparse_peaks.append(sp * max(u_s, 1e-3))
    if not redo:
        return route
    if route.ndim == 1:
        return channels.split(dense_peaks[0], sparse_peaks[0])
    route[redo] = channels.rows(redo).split(np.array(dense_peaks), np.array(sparse_peaks))
    return route


def _channel_counts(c: int, has_dense: bool, has_sparse: bool, step: StepWork) -> tuple[int, int, float]:
    """(channels on the sparse array, of them sent compressed, mean density of the compressed ones) of a
    MAC node with ``c`` input channels at ``step``. Without masks (the tiling search, static nodes) no
    array is built."""
    if step.sparse_mask is None and step.compressed_mask is None:  # no channel routed or compressed
        return (0 if has_dense else c), 0, 1.0
    if not has_dense:
        mask = np.ones(c, dtype=bool)
    elif step.sparse_mask is not None and has_sparse:
        mask = np.asarray(step.sparse_mask, dtype=bool)
    else:
        mask = np.zeros(c, dtype=bool)
    if step.compressed_mask is not None and has_sparse:
        compressed = np.asarray(step.compressed_mask, dtype=bool) & mask
    else:
        compressed = mask & (step.sparse_mask is not None)
    n_comp = int(np.count_nonzero(compressed))
    zf = step.zero_fraction if step.zero_fraction is not None else np.zeros(c)
    comp_density = float(1.0 - zf[compressed].sum() / n_comp) if n_comp else 1.0  # the mean, as np.mean takes it
    return int(np.count_nonzero(mask)), n_comp, comp_density


@lru_cache(maxsize=65536)
def _subset_pattern(rows: int, cols: int, channels: int, selected: int, bytes_per_elem: float, mapping: str,
                    burst_bytes: int) -> tuple[float, AccessPattern]:
    """``channel_subset_pattern`` memoized (the tiling search and every step ask for the same few)."""
    return channel_subset_pattern(rows, cols, channels, selected, bytes_per_elem, mapping, burst_bytes)


@dataclass
class _TileParts:
    """What every tile of one MAC node at one step shares; tiles differ only in their loads and the
    input band they allocate or free (:func:`_mac_variant`)."""

    dense: DenseJob | None
    sparse: SparseJob | None
    input_loads: list[Transfer]  # the input band, read by a band's first tile ...
    input_fill: list[tuple[str, float]]  # ... and its global-buffer fill, in order
    writes: list[Transfer]
    gb_drain: dict[str, float]
    merge_elems: float
    gb_operand: dict[str, float]
    gb_result: dict[str, float]
    local: dict[str, dict[str, float]]
    memo: dict = field(default_factory=dict)  # what the simulator derives from the shared parts (TileWork.shared_memo)


def _mac_tiles(plan: NodePlan, hw: HardwareConfig, step: StepWork,
               which: list[tuple[int, int]] | None = None) -> list[TileWork]:
    c = max(plan.in_channels, 1)
    has_dense, has_sparse = hw.dense_cluster is not None, hw.sparse_cluster is not None
    n_sparse, n_comp, comp_density = _channel_counts(c, has_dense, has_sparse, step)
    n_dense = c - n_sparse
    t = plan.tiles
    macs_tile = plan.macs / t
    out_tile = plan.out_elements / t
    band_rows = math.ceil(plan.in_rows / plan.bands)
    in_band_elems = plan.in_elements / plan.bands
    w_chunk_elems = plan.weight_elements / plan.chunks
    act_b, w_b, out_b = plan.act_bits / 8, plan.weight_bits / 8, plan.out_bits / 8
    in_store_bytes = plan.in_dram_bytes / plan.in_elements if plan.in_elements else 0.0  # per element, as stored
    first_w = plan.weight_first_eval_bytes if step.first_eval else 0.0  # resident weights: loaded once
    prefetched = plan.prefetch_bytes_at(step.first_eval)
    bitmap_bits = hw.sparse_cluster.bitmap_bits_per_element if has_sparse else 0.0
    out_rows = math.ceil(plan.out_rows / plan.bands)
    positions = out_rows * plan.out_cols
    oc_chunk = max(1, math.ceil(plan.out_channels / plan.chunks))
    # no input channel routed to the sparse array: it may take a share of the output channels, uncompressed
    oc_sparse = 0
    if has_dense and has_sparse and n_sparse == 0:
        oc_sparse = split_output_channels(oc_chunk, peak_macs_per_cycle(hw.dense_cluster, plan.fmt),
                                          peak_macs_per_cycle(hw.sparse_cluster, plan.fmt), hw.detector.placement)
    f_out = oc_sparse / oc_chunk  # share of the tile's outputs (and weights, MACs) on the sparse array
    dense_job = sparse_job = None
    d_in = d_w = s_in = s_bits = s_w = 0.0  # GB -> local bytes of each cluster
    d_refill = s_refill = 1.0
    if n_dense and f_out < 1.0:
        cl = hw.dense_cluster
        oc_d = oc_chunk - oc_sparse
        m = cluster_mapping(cl, plan, plan.reduction * n_dense / c, positions, oc_d)
        dense_job = DenseJob(macs=macs_tile * n_dense / c * (1.0 - f_out), fmt=plan.fmt, mapping=m)
        d_in, d_w = in_band_elems * n_dense / c * act_b, w_chunk_elems * n_dense / c * (1.0 - f_out) * w_b
        d_refill = _refills(cl, d_in + d_w, m, oc_d)
    if n_sparse or oc_sparse:
        cl = hw.sparse_cluster
        oc_s = oc_sparse or oc_chunk
        share = f_out if oc_sparse else 1.0
        # compressed channels: their non-zeros, with the array's load imbalance; other channels: every MAC
        executed_red = plan.reduction / c * (n_comp * comp_density * cl.load_imbalance + (n_sparse - n_comp)) \
            if n_sparse else float(plan.reduction)
        m = cluster_mapping(cl, plan, executed_red, positions, oc_s, group=cl.benes_group_multipliers) \
            if executed_red > 0 else None
        dense_macs = macs_tile * (n_sparse / c if n_sparse else share)
        executed = macs_tile * (n_comp * comp_density + n_sparse - n_comp) / c if n_sparse else dense_macs
        bitmap_elems = in_band_elems * n_comp / c
        meta = math.ceil(bitmap_elems * bitmap_bits / cl.metadata_bw_bits_per_cycle) if bitmap_elems else 0
        sparse_job = SparseJob(dense_macs=dense_macs, density=executed / dense_macs if dense_macs else 1.0,
                               fmt=plan.fmt, mapping=m, bitmap_elems=bitmap_elems, metadata_cycles=meta)
        if n_sparse:
            s_in = in_band_elems / c * (n_comp * comp_density + n_sparse - n_comp) * act_b
            s_w = w_chunk_elems * n_sparse / c * w_b
        else:  # an output share: the whole input band, its share of the weights
            s_in, s_w = in_band_elems * act_b, w_chunk_elems * share * w_b
        s_bits = bitmap_elems * bitmap_bits / 8
        if m is not None:
            s_refill = _refills(cl, s_in + s_bits + s_w, m, oc_s)
    # the input band (a band's first tile loads it): uncompressed channels, then compressed ones
    input_loads: list[Transfer] = []
    input_fill: list[tuple[str, float]] = []
    if in_store_bytes > 0:
        if n_comp < c:  # uncompressed channels (either array)
            b, p = _subset(hw, band_rows, plan.in_cols, c, c - n_comp, in_store_bytes, 1.0)
            input_loads.append(Transfer(b, p, "read", "inputs"))
            input_fill.append(("inputs", b))
        if n_comp:
            bpe = comp_density * in_store_bytes + bitmap_bits / 8  # compressed: non-zeros + bitmap
            b, p = _subset(hw, band_rows, plan.in_cols, c, n_comp, bpe, 1.0)
            input_loads.append(Transfer(b, p, "read", "inputs"))
            bits = b * (bitmap_bits / 8) / bpe
            input_fill += [("bitmaps", bits), ("inputs", b - bits)]
    # the operands of residual adds fused into the write-back, where they come from DRAM: read with the input band,
    # all channels of the band's output rows (contiguous under channel-last storage), held until its last chunk
    for x in _slice_transfers(hw, plan, out_rows, plan.out_channels, plan.fused_in_dram_bytes, plan.fused_in_bits,
                              "read"):
        input_loads.append(x)
        input_fill.append((x.tag, x.nbytes))
    oc_slice = min(oc_chunk, plan.out_channels)
    writes = _slice_transfers(hw, plan, out_rows, oc_slice, plan.out_dram_bytes, plan.out_bits, "write") + \
        _slice_transfers(hw, plan, out_rows, oc_slice, plan.fused_out_dram_bytes, plan.fused_out_bits, "write")
    local: dict[str, dict[str, float]] = {}
    if dense_job is not None:
        local[DENSE_LOCAL_BUFFER] = _local_counters(dense_job.mapping, plan, d_in * d_refill, d_w, 0.0)
    if sparse_job is not None and sparse_job.mapping is not None:
        local[SPARSE_LOCAL_BUFFER] = _local_counters(sparse_job.mapping, plan, s_in * s_refill, s_w, s_bits * s_refill)
    parts = _TileParts(
        dense=dense_job, sparse=sparse_job, input_loads=input_loads, input_fill=input_fill, writes=writes,
        gb_drain=_counts([("outputs", x.nbytes) for x in writes]),
        merge_elems=out_tile if dense_job is not None and sparse_job is not None and not oc_sparse else 0.0,
        gb_operand=_counts([("inputs", d_in * d_refill + s_in * s_refill + plan.fused_in_bytes / t),
                            ("bitmaps", s_bits * s_refill), ("weights", d_w + s_w)]),
        gb_result=_counts([("outputs", out_tile * out_b)]), local=local)
    variants: dict[tuple, TileWork] = {}  # tiles differ only at band starts/ends and in the first band
    special_first_band = first_w > 0 or prefetched > 0

    def tile(band: int, chunk: int) -> TileWork:
        variant = (chunk == 0, chunk == plan.chunks - 1, band == 0 and special_first_band)
        tw = variants.get(variant)
        if tw is None:
            tw = variants[variant] = _mac_variant(plan, parts, band, chunk, first_w, prefetched)
        return tw

    def band_tiles(band: int) -> list[TileWork]:  # a band's first chunk, its middle ones, its last
        if plan.chunks == 1:
            return [tile(band, 0)]
        middle = [tile(band, 1)] * (plan.chunks - 2) if plan.chunks > 2 else []
        return [tile(band, 0)] + middle + [tile(band, plan.chunks - 1)]

    if which is not None:
        return [tile(band, chunk) for band, chunk in which]
    # every band repeats the second band's tiles, the first band too unless it loads more weights
    later = band_tiles(1) if plan.bands > 1 else []
    first = band_tiles(0) if special_first_band or not later else later
    return first + later * (plan.bands - 1)


def _mac_variant(plan: NodePlan, parts: _TileParts, band: int, chunk: int, first_w: float,
                 prefetched: float) -> TileWork:
    """The tile (``band``, ``chunk``) of a MAC node: the shared ``parts``, plus the input band at a band's
    first chunk and the weights of its chunk (the first band's also the resident weights, less what was
    prefetched)."""
    tw = TileWork(footprint_bytes=plan.tile_footprint_bytes,
                  band_alloc_bytes=plan.band_bytes if chunk == 0 else 0.0,
                  band_release_bytes=plan.band_bytes if chunk == plan.chunks - 1 else 0.0,
                  dense=parts.dense, sparse=parts.sparse, merge_elems=parts.merge_elems,
                  # shared by the node's variants: a tile is never modified once built (only loads and the
                  # fill, which differ between variants, are the tile's own)
                  writes=parts.writes, gb_drain=parts.gb_drain, gb_operand=parts.gb_operand,
                  gb_result=parts.gb_result, local=parts.local)
    tw.shared_memo = parts.memo
    if chunk == 0:
        tw.loads.extend(parts.input_loads)
        for key, v in parts.input_fill:
            _add(tw.gb_fill, key, v)
    w_band = plan.weight_dram_bytes_per_band + (first_w if band == 0 else 0.0)
    wb = w_band / plan.chunks
    if band == 0 and chunk == 0 and prefetched:  # loaded while the previous node ran
        wb -= prefetched
    if wb > 1e-9:
        tw.loads.append(Transfer(wb, AccessPattern.contiguous(wb), "read", "weights"))
        _add(tw.gb_fill, "weights", wb)
    return tw


def _counts(pairs: list[tuple[str, float]]) -> dict[str, float]:
    """A counter dict from (key, value) pairs, added up in order as :func:`_add` does (zeros left out)."""
    out: dict[str, float] = {}
    for key, v in pairs:
        _add(out, key, v)
    return out


def _refills(cluster: DenseClusterConfig, tile_bytes: float, m: ArrayMapping, oc_chunk: int) -> float:
    """How often the tile's inputs come from the global buffer: once when the tile fits in the cluster's
    local buffer (half of it when double buffered), else once per output-channel group of the mapping."""
    lb = cluster.local_buffer
    room = lb.capacity_bytes / 2 if lb.double_buffered else lb.capacity_bytes
    return 1.0 if tile_bytes <= room else float(math.ceil(oc_chunk / m.vns))


def _local_counters(m: ArrayMapping, plan: NodePlan, fill_in: float, fill_w: float, fill_bits: float) -> dict:
    """Local-buffer bytes of one tile: fills from the global buffer, reads by the array, partial sums."""
    psum_b = accumulator_bits(plan.fmt) / 8
    out: dict[str, float] = {}
    _add(out, "write_bytes.inputs", fill_in)
    _add(out, "write_bytes.weights", fill_w)
    _add(out, "write_bytes.bitmaps", fill_bits)
    _add(out, "read_bytes.inputs", m.input_reads_elems * plan.act_bits / 8)
    _add(out, "read_bytes.weights", m.weight_reads_elems * plan.weight_bits / 8)
    _add(out, "write_bytes.psums", m.psum_elems * psum_b)
    _add(out, "read_bytes.psums", m.psum_elems * psum_b)
    return out
