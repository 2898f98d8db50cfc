"""What one tile asks of the machine: DRAM transfers with access patterns, work per PE cluster, vector ops.

This is the single description both the discrete-event machine (:mod:`des.machine`) and the analytical
model (:mod:`des.analytical`) execute, so they differ only in how they combine the costs (contention
and overlap in SimPy, a closed form in the analytical model).

Routing: a MAC node's input channels labelled sparse go to the sparse cluster, the others to the dense
cluster, and both work on the same tile at once; each computes partial sums over its channels, which
the vector unit adds (one add per output element) when both took part. The sparse cluster reads its
channels bitmap-compressed (non-zero values plus one bitmap bit per element) and executes only the
non-zero MACs; the dense cluster executes every MAC of its channels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from components import AccessPattern, HardwareConfig, channel_subset_pattern, maeri_mapping_utilization

from .mapping import NodePlan

__all__ = ["StepWork", "Transfer", "DenseJob", "SparseJob", "TileWork", "tile_works"]


@dataclass(frozen=True)
class StepWork:
    """The step-dependent inputs of one node: labels (True = sparse channel) and true zero fractions."""

    sparse_mask: np.ndarray | None = None
    zero_fraction: np.ndarray | None = None
    first_eval: bool = False


@dataclass(frozen=True)
class Transfer:
    nbytes: float
    pattern: AccessPattern
    kind: str  # "read" | "write"
    tag: str


@dataclass(frozen=True)
class DenseJob:
    macs: float
    fmt: str
    utilization: float
    distributed_elems: float
    reduced_elems: float


@dataclass(frozen=True)
class SparseJob:
    dense_macs: float
    density: float
    fmt: str
    bitmap_elems: float
    distributed_elems: float


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
    gb_read_bytes: float = 0.0  # operands streamed from the global buffer into the arrays / vector unit
    gb_write_bytes: float = 0.0  # tile results and DRAM fills written into the global buffer


def _subset(hw: HardwareConfig, rows: int, cols: int, channels: int, selected: int, bytes_per_elem: float,
            scale: float) -> tuple[float, AccessPattern]:
    """Useful bytes and DRAM pattern of ``selected`` of ``channels`` channel planes (rows x cols each)."""
    if selected <= 0 or bytes_per_elem <= 0 or scale <= 0:
        return 0.0, AccessPattern(0, 0.0)
    useful, pattern = channel_subset_pattern(max(rows, 1), max(cols, 1), channels, selected, bytes_per_elem,
                                             hw.dram.address_mapping, hw.dram.burst_bytes)
    if scale < 1.0:  # only part of the operand comes from DRAM: shorten the runs, keep their number
        pattern = AccessPattern(pattern.runs, pattern.run_bytes * scale, pattern.stride_bytes)
    return useful * scale, pattern


def tile_works(plan: NodePlan, hw: HardwareConfig, step: StepWork) -> list[TileWork]:
    """The tiles of ``plan`` at one step, in execution order (bands outer, chunks inner)."""
    if plan.kind == "fused":
        return []
    if plan.kind == "vector":
        return _vector_tiles(plan, hw, step)
    return _mac_tiles(plan, hw, step)


def _vector_tiles(plan: NodePlan, hw: HardwareConfig, step: StepWork) -> list[TileWork]:
    t = plan.tiles
    w_dram = plan.weight_dram_bytes_per_band + (plan.weight_first_eval_bytes if step.first_eval else 0.0)
    out = []
    for i in range(t):
        tw = TileWork(vector_elems=plan.vector_elements / t, vector_kind=plan.vector_kind,
                      footprint_bytes=plan.tile_footprint_bytes)
        if plan.in_dram_bytes:
            tw.loads.append(Transfer(plan.in_dram_bytes / t, AccessPattern.contiguous(plan.in_dram_bytes / t), "read", "in"))
        if w_dram and i == 0:
            tw.loads.append(Transfer(w_dram, AccessPattern.contiguous(w_dram), "read", "weights"))
        if plan.out_dram_bytes:
            tw.writes.append(Transfer(plan.out_dram_bytes / t, AccessPattern.contiguous(plan.out_dram_bytes / t), "write", "out"))
        tw.gb_read_bytes = (plan.in_elements / t) * 2.0
        tw.gb_write_bytes = (plan.out_elements / t) * plan.out_bits / 8 + sum(x.nbytes for x in tw.loads)
        out.append(tw)
    return out


def _mac_tiles(plan: NodePlan, hw: HardwareConfig, step: StepWork) -> list[TileWork]:
    c = max(plan.in_channels, 1)
    has_dense, has_sparse = hw.dense_cluster is not None, hw.sparse_cluster is not None
    if step.sparse_mask is not None and has_sparse:
        mask = np.asarray(step.sparse_mask, dtype=bool)
    else:
        mask = np.full(c, not has_dense, dtype=bool)  # dense-only machine: all dense; sparse-only: all sparse
    if not has_dense:
        mask = np.ones(c, dtype=bool)
    n_sparse = int(mask.sum())
    n_dense = c - n_sparse
    zf = step.zero_fraction if step.zero_fraction is not None else np.zeros(c)
    density = float(1.0 - np.mean(zf[mask])) if n_sparse else 1.0
    t = plan.tiles
    macs_tile = plan.macs / t
    out_tile = plan.out_elements / t
    band_rows = math.ceil(plan.in_rows / plan.bands)
    in_band_elems = plan.in_elements / plan.bands
    w_chunk_elems = plan.weight_elements / plan.chunks
    in_store_bytes = plan.in_dram_bytes / plan.in_elements if plan.in_elements else 0.0  # per element, as stored
    first_w = plan.weight_first_eval_bytes if step.first_eval else 0.0  # resident weights: loaded once
    bitmap_bits = hw.sparse_cluster.bitmap_bits_per_element if has_sparse else 0.0
    out_rows = math.ceil(plan.out_rows / plan.bands)
    oc_chunk = max(1, round(plan.out_channels / plan.chunks))
    dense_util = 1.0
    if n_dense:
        red = max(1, round(plan.reduction * n_dense / c))
        dense_util = maeri_mapping_utilization(red, max(1, int(out_tile)), hw.dense_cluster.multipliers)
    tiles = []
    for band in range(plan.bands):
        for chunk in range(plan.chunks):
            tw = TileWork(footprint_bytes=plan.tile_footprint_bytes,
                          band_alloc_bytes=plan.band_bytes if chunk == 0 else 0.0,
                          band_release_bytes=plan.band_bytes if chunk == plan.chunks - 1 else 0.0)
            if chunk == 0 and in_store_bytes > 0:
                if n_dense:
                    b, p = _subset(hw, band_rows, plan.in_cols, c, n_dense, in_store_bytes, 1.0)
                    tw.loads.append(Transfer(b, p, "read", "in.dense"))
                if n_sparse:
                    bpe = density * in_store_bytes + bitmap_bits / 8  # compressed: non-zeros + bitmap
                    b, p = _subset(hw, band_rows, plan.in_cols, c, n_sparse, bpe, 1.0)
                    tw.loads.append(Transfer(b, p, "read", "in.sparse"))
            w_band = plan.weight_dram_bytes_per_band + (first_w if band == 0 else 0.0)
            if w_band > 0:
                wb = w_band / plan.chunks
                tw.loads.append(Transfer(wb, AccessPattern.contiguous(wb), "read", "weights"))
            if n_dense:
                tw.dense = DenseJob(macs=macs_tile * n_dense / c, fmt=plan.fmt, utilization=dense_util,
                                    distributed_elems=(in_band_elems + w_chunk_elems) * n_dense / c,
                                    reduced_elems=out_tile)
            if n_sparse:
                tw.sparse = SparseJob(dense_macs=macs_tile * n_sparse / c, density=density, fmt=plan.fmt,
                                      bitmap_elems=in_band_elems * n_sparse / c,
                                      distributed_elems=(in_band_elems * density + w_chunk_elems) * n_sparse / c)
            if n_dense and n_sparse:
                tw.merge_elems = out_tile
            if plan.out_dram_bytes:
                scale = plan.out_dram_bytes / (plan.out_elements * plan.out_bits / 8)
                b, p = _subset(hw, out_rows, plan.out_cols, plan.out_channels, min(oc_chunk, plan.out_channels),
                               plan.out_bits / 8, scale)
                tw.writes.append(Transfer(b, p, "write", "out"))
            tw.gb_read_bytes = (in_band_elems * (n_dense + n_sparse * density) / c * plan.act_bits
                                + w_chunk_elems * plan.weight_bits) / 8
            tw.gb_write_bytes = out_tile * plan.out_bits / 8 + sum(x.nbytes for x in tw.loads)
            tiles.append(tw)
    return tiles
