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

import numpy as np

__all__ = ["PLACEMENT_POLICIES", "peak_macs_per_cycle", "split_input_channels", "split_output_channels"]

PLACEMENT_POLICIES = ("balanced", "threshold")


def peak_macs_per_cycle(cluster, fmt: str) -> float:
    """MACs per cycle of an array config for format ``fmt`` (0 without the array or the format)."""
    return cluster.multipliers * cluster.rates.get(fmt, 0.0) if cluster is not None else 0.0


def split_input_channels(labels: np.ndarray, estimate: np.ndarray, dense_peak: float, sparse_peak: float,
                         load_imbalance: float, policy: str) -> np.ndarray:
    """Boolean mask of the input channels the sparse array computes (see the module docstring).

    ``labels``: True = sparse-labelled (sent compressed); ``estimate``: estimated zero fraction per channel;
    ``*_peak``: MACs per cycle of each array for the node's format (0: no such array)."""
    lab = np.asarray(labels, dtype=bool)
    if policy not in PLACEMENT_POLICIES:
        raise ValueError(f"unknown placement policy {policy!r}; known: {', '.join(PLACEMENT_POLICIES)}")
    if sparse_peak <= 0:
        return np.zeros(lab.size, dtype=bool)
    if dense_peak <= 0:
        return np.ones(lab.size, dtype=bool)
    if policy == "threshold":
        return lab.copy()
    est = np.clip(np.asarray(estimate, dtype=float), 0.0, 1.0)
    # sparse-labelled channels first, most zeros first; then uncompressed channels (any order: equal cost)
    order = np.lexsort((-est, ~lab))
    sparse_cost = np.where(lab, (1.0 - est) * load_imbalance, 1.0)[order] / sparse_peak
    dense_cost = np.full(lab.size, 1.0 / dense_peak)
    on_sparse = np.concatenate([[0.0], np.cumsum(sparse_cost)])  # time of the sparse array with k channels
    on_dense = np.concatenate([[0.0], np.cumsum(dense_cost[::-1])])[::-1]  # ... of the dense array with the rest
    k = int(np.argmin(np.maximum(on_sparse, on_dense)))
    mask = np.zeros(lab.size, dtype=bool)
    mask[order[:k]] = True
    return mask


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
