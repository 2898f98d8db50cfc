"""Work placement between the dense and the sparse array: which input channels, or which share of the
output channels, each array computes, so that both finish a node together.

The controller knows, per input channel, the detector's label (compress and skip zeros, or not) and the
zero fraction the label came from (the estimate: last counts, calibration or truth, by label policy). It
does not know the zero fractions of the step being run, so placement is decided on the estimate and the
arrays' peak rates (multipliers x MACs per multiplier per cycle); the simulation then runs the chosen
split with the true zero fractions and the array mappings.

Policies (``detector.placement`` in the hardware config):

* ``threshold`` — the paper's rule read literally: sparse-labelled channels to the sparse array, every
  other channel to the dense array; a node with no sparse-labelled channel runs on the dense array alone.
* ``balanced`` — both arrays are kept busy. SIGMA is a general sparse GEMM engine and runs dense work
  too (uncompressed, its bitmap implicitly all ones). A sparse-eligible node's input channels, sorted by
  (label sparse first, estimated zero fraction descending), are split at the prefix that minimizes the
  larger of the two arrays' estimated times: sparse-labelled channels cost ``(1 - zf) x load_imbalance``
  per MAC on the sparse array, uncompressed channels cost 1, and every channel costs 1 on the dense array.
  Input-channel splits leave partial sums on both arrays, which the vector unit merges (costed by the
  caller). A node with no sparse-labelled channel (not eligible, or the detector off) is split by output
  channels instead, in proportion to the peak rates: no partial sums to merge, both arrays read the
  whole input.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["PLACEMENT_POLICIES", "ChannelOrder", "peak_macs_per_cycle", "split_input_channels",
           "split_output_channels"]

PLACEMENT_POLICIES = ("balanced", "threshold")


def peak_macs_per_cycle(cluster, fmt: str) -> float:
    """MACs per cycle of an array config for format ``fmt`` (0 without the array or the format)."""
    return cluster.multipliers * cluster.rates.get(fmt, 0.0) if cluster is not None else 0.0


def split_input_channels(labels: np.ndarray, estimate: np.ndarray, dense_peak: float, sparse_peak: float,
                         load_imbalance: float, policy: str) -> np.ndarray:
    """Boolean mask of the input channels the sparse array computes (see the module docstring).

    ``labels``: True = sparse-labelled (sent compressed); ``estimate``: estimated zero fraction per channel;
    ``*_peak``: MACs per cycle of each array for the node's format (0: no such array). Both may hold several
    steps, a row each (:class:`ChannelOrder`): the mask has their shape."""
    lab = np.asarray(labels, dtype=bool)
    if policy not in PLACEMENT_POLICIES:
        raise ValueError(f"unknown placement policy {policy!r}; known: {', '.join(PLACEMENT_POLICIES)}")
    if sparse_peak <= 0:
        return np.zeros(lab.shape, dtype=bool)
    if dense_peak <= 0:
        return np.ones(lab.shape, dtype=bool)
    if policy == "threshold":
        return lab.copy()
    return ChannelOrder(lab, estimate, load_imbalance).split(dense_peak, sparse_peak)


class ChannelOrder:
    """The ``balanced`` split's view of one node's input channels: each channel's cost per MAC on the sparse
    array (``sparse_cost``: ``(1 - zf) x load_imbalance`` when sparse-labelled, 1 otherwise) and the order
    the split takes them in (sparse-labelled first, most zeros first). Built once, it splits the channels
    for any pair of array rates (a caller that refines the rates splits twice without sorting twice).

    ``labels`` and ``estimate`` are one node's channels (shape ``(C,)``) or several steps of them, a row
    each (``(R, C)``): every row is ordered and split as it would be alone (the same operations along the
    last axis), so a caller that knows many steps' inputs at once (the wrong-label oracle's, from the
    profile) places them in one call."""

    def __init__(self, labels: np.ndarray, estimate: np.ndarray, load_imbalance: float) -> None:
        self.labels = lab = np.asarray(labels, dtype=bool)
        # np.clip(estimate, 0, 1) (but for the sign of a zero, which nothing below tells apart), without its
        # Python-level overhead
        est = np.minimum(np.maximum(np.asarray(estimate, dtype=float), 0.0), 1.0)
        self.sparse_cost = np.where(lab, (1.0 - est) * load_imbalance, 1.0)
        # sparse-labelled channels first, most zeros first; then uncompressed channels (any order: equal cost)
        self.order = _label_then_zeros_order(lab, est)

    def rows(self, which: list[int]) -> "ChannelOrder":
        """The order of rows ``which`` only (of a several-row order)."""
        out = object.__new__(ChannelOrder)
        out.labels, out.sparse_cost, out.order = self.labels[which], self.sparse_cost[which], self.order[which]
        return out

    def split(self, dense_peak: float | np.ndarray, sparse_peak: float | np.ndarray) -> np.ndarray:
        """The mask of the channels the sparse array takes (the labels' shape): the prefix of the order that
        minimizes the larger of the two arrays' times at these rates (MACs per cycle, all > 0; a rate per
        row when rows differ)."""
        lab, order = self.labels, self.order
        n = lab.shape[-1]
        on_sparse = np.empty(lab.shape[:-1] + (n + 1,))  # time of the sparse array with the first k channels
        on_sparse[..., 0] = 0.0
        ordered = self.sparse_cost[order] if lab.ndim == 1 else np.take_along_axis(self.sparse_cost, order, -1)
        (ordered / np.asarray(sparse_peak)[..., None]).cumsum(axis=-1, out=on_sparse[..., 1:])
        if np.ndim(dense_peak) == 0:
            on_dense = _dense_times(n, float(dense_peak))  # ... of the dense array with the rest
        else:
            on_dense = np.stack([_dense_times(n, float(d)) for d in dense_peak])
        k = np.maximum(on_sparse, on_dense).argmin(axis=-1)
        mask = np.zeros(lab.shape, dtype=bool)
        if lab.ndim == 1:
            mask[order[:int(k)]] = True
        else:
            np.put_along_axis(mask, order, np.arange(n) < k[:, None], -1)
        return mask


def _label_then_zeros_order(lab: np.ndarray, est: np.ndarray) -> np.ndarray:
    """``np.lexsort((-est, ~lab))`` along the last axis, for estimates in [0, 1]. For many channels,
    faster: one integer key per channel (label, then the estimate's bits, which order non-negative floats)
    sorted with the fast unstable sort, then ties put back in index order (sorting (tie group, index), all
    distinct: one order whatever the sort); NaN estimates take the lexsort."""
    est = np.asarray(est, dtype=np.float64)
    n = lab.shape[-1]
    if n <= _LEXSORT_UP_TO or np.isnan(est).any():
        return np.lexsort((-est, ~lab), axis=-1)
    bits = (est + 0.0).view(np.int64)  # + 0.0: -0.0 sorts as 0.0, as it compares
    key = np.where(lab, 0, 1 << 62) + (_ONE_BITS - bits)  # labelled first, then the estimate descending
    order = key.argsort(axis=-1)
    ranked = np.take_along_axis(key, order, -1)
    tie = ranked[..., 1:] == ranked[..., :-1]
    if tie.any():
        group = np.zeros(key.shape, dtype=np.int64)
        np.cumsum(~tie, axis=-1, out=group[..., 1:])
        order = np.take_along_axis(order, np.argsort(group * n + order, axis=-1), -1)
    return order


_ONE_BITS = int(np.float64(1.0).view(np.int64))
# below this many channels numpy's lexsort is the faster of the two (measured: 6-27 us against 23-84 us for
# 64-512 channels; the integer key wins from ~1000 channels on)
_LEXSORT_UP_TO = 768


@lru_cache(maxsize=256)
def _dense_times(n: int, dense_peak: float) -> np.ndarray:
    """Time of the dense array when it computes the last n - k of n channels, for k = 0..n (read-only:
    shared between splits; a node's channel count and rate repeat every step)."""
    dense_cost = np.full(n, 1.0 / dense_peak)
    out = np.concatenate([[0.0], np.cumsum(dense_cost[::-1])])[::-1]
    out.setflags(write=False)
    return out


def split_output_channels(out_channels: int, dense_peak: float, sparse_peak: float, policy: str) -> int:
    """How many of ``out_channels`` output channels the sparse array computes, uncompressed, when a node
    has no sparse-labelled input channel: 0 under ``threshold``; under ``balanced`` the count that
    minimizes the larger of the two arrays' times at their peak rates."""
    if policy not in PLACEMENT_POLICIES:
        raise ValueError(f"unknown placement policy {policy!r}; known: {', '.join(PLACEMENT_POLICIES)}")
    if sparse_peak <= 0:
        return 0
    if dense_peak <= 0:
        return out_channels
    if policy == "threshold" or out_channels <= 1:
        return 0
    ideal = out_channels * sparse_peak / (dense_peak + sparse_peak)
    best = min((int(np.floor(ideal)), int(np.ceil(ideal))),
               key=lambda s: (max((out_channels - s) / dense_peak, s / sparse_peak), -s))
    return best
