"""PE-array mapping: how one tile's MACs land on a MAERI-like or SIGMA-like array, and what that costs.

A tile is a small GEMM: ``positions`` (P) output positions x ``out_channels`` (Q) independent outputs,
each a dot product of length ``reduction`` (R). The array builds **virtual neurons** (VNs): groups of s
multipliers whose products one reduction (sub)tree adds. The mapper (:func:`map_tile`) chooses s:

* ``vns = min(floor(N / s), Q)`` VNs, one output channel each (weight-stationary: each VN holds s weights
  of one output channel; every VN sees the same input window, which the distribution tree multicasts);
  with Flex-DPE groups of G multipliers (SIGMA) a VN of s <= G must fit inside one group, so
  ``vns = min(floor(G / s) x N / G, Q)``, and a larger VN takes ``ceil(s / G)`` whole groups;
* ``folds = ceil(R / s)``: a dot product longer than s is done in folds, the partial sums of each fold
  accumulated in the local buffer (read + written once per extra fold);
* ``mappings = ceil(Q / vns) x folds``: each mapping first loads its s x vns stationary weights through the
  distribution network (``ceil(s x vns / distribution_bw)`` cycles: weights are unique per multiplier,
  nothing to multicast), then streams the P positions: each position needs ``s x new_input_fraction``
  new input elements (a sliding window shares the rest with the previous position) and leaves ``vns``
  partial sums to the reduction network, so one position takes
  ``max(1 / rate, s x f / distribution_bw, vns / reduction_bw, local_bytes / local_bw)`` cycles
  (``rate`` = MACs per multiplier per cycle of the format: an 8-bit MAC on an INT4-native multiplier
  takes 2 cycles; ``local_bytes`` = the new input bytes plus, when there is more than one fold, the
  partial sums read and written back: the local buffer's ports must keep up with the array);
* the pipeline (distribution tree, multiplier, reduction tree: ``ceil(log2 N) + 1 + ceil(log2 s)`` stages)
  fills and drains once per tile.

``cycles = mappings x (weight_load + P x per_position) + pipeline``; spatial utilization is the tile's
MACs over ``N x rate x cycles``. Idle multipliers (vns x s < N, too few output channels), the partial last
fold, weight reloads between short streams (little reuse: a batch-1 linear streams each weight once)
and the distribution/reduction bandwidth all show up as utilization below 1; a large 3x3 convolution
streams long enough that it stays near 1. The mapper tries every s from 1 to min(R, N) and keeps the
fewest cycles (ties: the smaller s). The sparse (SIGMA-like) array uses the same model on the non-zero
part of the reduction (``R x density x load_imbalance``) with its Flex-DPE groups.

The local-buffer access counts of the chosen mapping (elements) follow from the same loop nest: every
stationary weight is read once per tile (s x vns per mapping), the input stream is read once per
output-channel group and fold (P x s x f per mapping), and partial sums are written and read back once
per fold after the first (P x Q x (folds - 1) each way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["TileShape", "ArrayMapping", "map_tile"]


@dataclass(frozen=True)
class TileShape:
    """One tile as a GEMM: P positions x Q outputs, reduction R; ``new_input_fraction`` of a position's
    window is new (1 for a linear or 1x1 conv, stride/kernel width for a sliding window)."""

    reduction: float
    positions: int
    out_channels: int
    new_input_fraction: float = 1.0

    @property
    def macs(self) -> float:
        return self.reduction * self.positions * self.out_channels


@dataclass(frozen=True)
class ArrayMapping:
    """The mapper's choice for one tile and its cost (see the module docstring)."""

    vn_size: int
    vns: int
    folds: int
    mappings: int
    weight_load_cycles: float  # per mapping
    position_cycles: float  # per streamed position
    pipeline_cycles: int  # fill + drain, once per tile
    cycles: int
    macs: float
    multipliers: int
    rate: float
    weight_reads_elems: float  # local buffer -> array, per tile
    input_reads_elems: float
    psum_elems: float  # partial sums written (and read back) per tile

    def with_macs(self, macs: float) -> "ArrayMapping":
        """This mapping for a tile of ``macs`` MACs (a reduction with the same whole-number ceiling maps
        alike); ``dataclasses.replace(self, macs=macs)``, without its per-field introspection (a plain frozen
        record: no __post_init__, nothing derived)."""
        out = object.__new__(ArrayMapping)
        out.__dict__.update(self.__dict__)
        out.__dict__["macs"] = macs
        return out

    @property
    def utilization(self) -> float:
        """Useful MACs over the array's MAC slots during the tile (0..1)."""
        slots = self.multipliers * self.rate * self.cycles
        return min(self.macs / slots, 1.0) if slots > 0 else 0.0


@lru_cache(maxsize=65536)
def _map(reduction: float, positions: int, out_channels: int, new_frac: float, multipliers: int, rate: float,
         dist_bw: float, red_bw: float, group: int, in_bytes: float, w_bytes: float, psum_bytes: float,
         local_bw: float) -> ArrayMapping:
    n = multipliers
    r_int = max(int(math.ceil(reduction - 1e-9)), 1)
    c = _candidates(positions, out_channels, new_frac, multipliers, rate, dist_bw, red_bw, group, in_bytes,
                    w_bytes, psum_bytes, local_bw)
    m = min(r_int, n)  # VN sizes 1 .. m
    s = c.s[:m]
    folds = np.ceil(reduction / s - 1e-12)  # reduction is a whole number here (see map_tile)
    mappings = c.groups[:m] * folds
    multi = folds > 1  # partial sums go back to the local buffer
    per_pos = np.where(multi, c.per_pos_folded[:m], c.per_pos_single[:m])
    cycles = np.ceil(mappings * np.where(multi, c.stream_folded[:m], c.stream_single[:m]) + c.pipe[:m])
    i = int(np.argmin(cycles))  # first minimum: the smallest VN size among ties
    sv, vv, fv = int(s[i]), int(c.vns[i]), int(folds[i])
    return ArrayMapping(vn_size=sv, vns=vv, folds=fv, mappings=int(mappings[i]), weight_load_cycles=float(c.w_load[i]),
                        position_cycles=float(per_pos[i]), pipeline_cycles=int(c.pipe[i]), cycles=int(cycles[i]),
                        macs=reduction * positions * out_channels, multipliers=n, rate=rate,
                        weight_reads_elems=float(mappings[i] * sv * vv),
                        input_reads_elems=float(mappings[i] * positions * sv * new_frac),
                        psum_elems=float(positions * out_channels * (fv - 1)))


@dataclass(frozen=True)
class _Candidates:
    """The reduction-independent terms of every VN size s = 1 .. N for one tile shape (positions, outputs)
    on one array: a reduction only changes the folds, and with them whether partial sums go back to the
    local buffer (``*_folded``) or not (``*_single``); ``stream`` is the weight load plus the streamed
    positions of one mapping."""

    s: np.ndarray
    vns: np.ndarray
    groups: np.ndarray  # output-channel groups: ceil(Q / vns)
    w_load: np.ndarray
    per_pos_single: np.ndarray
    per_pos_folded: np.ndarray
    stream_single: np.ndarray
    stream_folded: np.ndarray
    pipe: np.ndarray


# ~1,000 shapes in an SD-1.5 run's tiling search (a smaller cache recomputed 1,762 of them); each entry is
# 9 arrays of N floats (74 KB at N = 1024), so the cache stays under ~75 MB
@lru_cache(maxsize=1024)
def _candidates(positions: int, out_channels: int, new_frac: float, multipliers: int, rate: float, dist_bw: float,
                red_bw: float, group: int, in_bytes: float, w_bytes: float, psum_bytes: float,
                local_bw: float) -> _Candidates:
    """:class:`_Candidates` of a tile shape (the terms of the module docstring, elementwise over s)."""
    n = multipliers
    s = np.arange(1, n + 1, dtype=np.float64)
    if group and group < n:
        per_group = np.floor(group / s)
        groups_needed = np.ceil(s / group)
        cap = np.where(s <= group, per_group * (n // group), np.floor(n / (groups_needed * group)))
    else:
        cap = np.floor(n / s)
    vns = np.minimum(np.maximum(cap, 1.0), float(out_channels))
    w_load = np.ceil(np.maximum(s * vns / dist_bw, s * vns * w_bytes / local_bw))
    window = s * new_frac * in_bytes
    local_single = (window + 0.0) / local_bw  # as (window + where(folds > 1, psums, 0.0)) / local_bw
    local_folded = (window + 2.0 * vns * psum_bytes) / local_bw
    rest = [np.full_like(s, 1.0 / rate), s * new_frac / dist_bw, vns / red_bw]
    per_pos_single = np.maximum.reduce(rest + [local_single])
    per_pos_folded = np.maximum.reduce(rest + [local_folded])
    pipe = math.ceil(math.log2(n)) + 1 + np.ceil(np.log2(s))
    for a in (s, vns, w_load, per_pos_single, per_pos_folded, pipe):
        a.setflags(write=False)
    return _Candidates(s=s, vns=vns, groups=np.ceil(out_channels / vns), w_load=w_load,
                       per_pos_single=per_pos_single, per_pos_folded=per_pos_folded,
                       stream_single=w_load + positions * per_pos_single,
                       stream_folded=w_load + positions * per_pos_folded, pipe=pipe)


def map_tile(shape: TileShape, multipliers: int, rate: float, distribution_bw_elems_per_cycle: float,
             reduction_bw_elems_per_cycle: float, group_multipliers: int | None = None, *,
             input_bytes_per_elem: float = 0.0, weight_bytes_per_elem: float = 0.0, psum_bytes_per_elem: float = 0.0,
             local_bw_bytes_per_cycle: float = math.inf) -> ArrayMapping:
    """The fastest VN mapping of ``shape`` on an array of ``multipliers`` (module docstring).

    ``rate``: MACs per multiplier per cycle of the tile's format; ``group_multipliers``: Flex-DPE size
    (SIGMA), None for one flexible array (MAERI); the byte sizes and the local buffer's bandwidth (all
    ports) bound how fast operands and partial sums move between the local buffer and the array."""
    if shape.reduction <= 0 or shape.positions <= 0 or shape.out_channels <= 0:
        raise ValueError(f"tile shape must be positive, got {shape}")
    if not 0 < shape.new_input_fraction <= 1:
        raise ValueError(f"new_input_fraction must be in (0, 1], got {shape.new_input_fraction}")
    if multipliers <= 0 or rate <= 0 or distribution_bw_elems_per_cycle <= 0 or reduction_bw_elems_per_cycle <= 0:
        raise ValueError("multipliers, rate and bandwidths must be > 0")
    # The mapping depends on the reduction only through ceil(R / s) = ceil(ceil(R) / s): search (and cache)
    # it for the whole number ceil(R), then count the tile's true MACs.
    r_int = max(math.ceil(shape.reduction - 1e-9), 1)
    m = _map(float(r_int), int(shape.positions), int(shape.out_channels),
             float(shape.new_input_fraction), int(multipliers), float(rate),
             float(distribution_bw_elems_per_cycle), float(reduction_bw_elems_per_cycle),
             int(group_multipliers or 0), float(input_bytes_per_elem), float(weight_bytes_per_elem),
             float(psum_bytes_per_elem), float(local_bw_bytes_per_cycle))
    return m if r_int == shape.reduction else m.with_macs(shape.macs)
