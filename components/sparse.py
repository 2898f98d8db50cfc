"""Sparse PE cluster (SIGMA-like): cycle cost (pure function) and a SimPy component.

Activations arrive bitmap-compressed; only non-zero activations are multiplied:
    compute = ceil(dense_macs x density x load_imbalance / (multipliers x rate(fmt)))
The bitmap must stream in as well (metadata bound) and the non-zeros must be distributed:
    metadata = ceil(bitmap_elems x bitmap_bits_per_element / metadata_bw_bits_per_cycle)
    distribution = ceil(distributed_elems / distribution_bw_elems_per_cycle)
cycles = max(compute, metadata, distribution). `density` = 1 - zero fraction of the activations.
With non-decreasing inputs this is monotone: more zeros never cost more cycles.
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from .config import SPARSE_CLUSTER, SparseClusterConfig
from .energy import METADATA_BITS, NOC_HOPS, macs_counter
from .resource import BusyUnit
from .stats import ActivityRecorder


def sparse_compute_cycles(
    dense_macs: float,
    density: float,
    fmt: str,
    cfg: SparseClusterConfig,
    *,
    bitmap_elems: float = 0.0,
    distributed_elems: float = 0.0,
    cluster: str = SPARSE_CLUSTER,
) -> int:
    """Cycles for the non-zero part of `dense_macs` MACs of `fmt` (see the module docstring).
    UnsupportedFormatError if `fmt` is not in cfg.rates."""
    rate = cfg.rate(fmt, cluster)
    if dense_macs < 0 or bitmap_elems < 0 or distributed_elems < 0:
        raise ValueError(f"negative work: dense_macs={dense_macs}, bitmap_elems={bitmap_elems}, distributed_elems={distributed_elems}")
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be in [0, 1], got {density}")
    executed = dense_macs * density * cfg.load_imbalance
    compute = math.ceil(executed / (cfg.multipliers * rate)) if executed else 0
    metadata = math.ceil(bitmap_elems * cfg.bitmap_bits_per_element / cfg.metadata_bw_bits_per_cycle) if bitmap_elems else 0
    dist = math.ceil(distributed_elems / cfg.distribution_bw_elems_per_cycle) if distributed_elems else 0
    return int(max(compute, metadata, dist))


class SparsePECluster(BusyUnit):
    """A sparse PE array: one computation at a time; records intervals, executed (non-zero) MACs per
    format, skipped MACs, bitmap metadata bits and NoC hops."""

    def __init__(self, env: simpy.Environment, cfg: SparseClusterConfig, stats: ActivityRecorder | None = None,
                 name: str = SPARSE_CLUSTER):
        super().__init__(env, cfg, stats, name)

    def cycles(self, dense_macs: float, density: float, fmt: str, **extra: float) -> int:
        """Pure cost of a computation (same function the process uses)."""
        return sparse_compute_cycles(dense_macs, density, fmt, self.cfg, cluster=self.name, **extra)

    def compute(
        self, dense_macs: float, density: float, fmt: str, tag: str = "", **extra: float
    ) -> Generator[simpy.events.Event, object, int]:
        """Process body: hold the array for `cycles(...)`; returns the cycles. Invalid arguments
        (e.g. an unsupported format) raise at call time."""
        cycles = self.cycles(dense_macs, density, fmt, **extra)
        return self.execute(cycles, dense_macs, density, fmt, tag, bitmap_elems=extra.get("bitmap_elems", 0.0))

    def execute(self, cycles: float, dense_macs: float, density: float, fmt: str, tag: str = "", *,
                bitmap_elems: float = 0.0) -> Generator[simpy.events.Event, object, int]:
        """Process body: hold the array for `cycles` already costed by a mapping (components.map_tile) and
        count the non-zero MACs, skipped MACs, bitmap bits and `mac_slots` (multipliers x rate x cycles)."""
        return self._busy(cycles, "compute", tag, self.job_counters(cycles, dense_macs, density, fmt, bitmap_elems))

    def job_counters(self, cycles: float, dense_macs: float, density: float, fmt: str,
                     bitmap_elems: float = 0.0) -> dict[str, float]:
        """Counters of one computation (see :meth:`execute`)."""
        executed = dense_macs * density
        rate = self.cfg.rate(fmt, self.name)
        return {
            "mac_slots": self.cfg.multipliers * rate * cycles,
            macs_counter(fmt): executed,
            "dense_macs": dense_macs,
            "skipped_macs": dense_macs - executed,
            METADATA_BITS: bitmap_elems * self.cfg.bitmap_bits_per_element,
            NOC_HOPS: executed * self.cfg.noc_hops_per_mac,
            "computes": 1,
        }
