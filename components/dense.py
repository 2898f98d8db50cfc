"""Dense PE cluster (MAERI-like): cycle cost (pure functions) and a SimPy component.

Cycles of a dense computation:
    ceil(macs / (multipliers x rate(fmt) x mapping_utilization))
bounded below by the distribution and reduction networks when their element counts are given:
    ceil(distributed_elems / distribution_bw_elems_per_cycle), ceil(reduced_elems / reduction_bw_elems_per_cycle).

Mapping utilization (`maeri_mapping_utilization`): MAERI builds "virtual neurons" (VNs) of s
multipliers, each computing one output's dot product of length R (the reduction size, e.g.
C_in x k_h x k_w) in ceil(R / s) folds; floor(N / s) VNs fit, but at most `parallel_outputs` have work
(the independent outputs the mapping spreads over the array, e.g. output channels). The useful
fraction of multiplier-cycles is VNs x R / (folds x N) (every multiplier-cycle of the array over the
folds, VNs x R of them useful; idle multipliers and the partial last fold are the loss); the mapper picks
the VN size s in 1..min(R, N) with the highest utilization.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Generator

import simpy

from .config import DENSE_CLUSTER, DenseClusterConfig
from .energy import NOC_HOPS, macs_counter
from .resource import BusyUnit
from .stats import ActivityRecorder


@lru_cache(maxsize=4096)
def maeri_mapping_utilization(reduction_size: int, parallel_outputs: int, multipliers: int) -> float:
    """Fraction (0, 1] of the array's multiplier-cycles doing useful MACs (see the module docstring)."""
    r, p, n = int(reduction_size), int(parallel_outputs), int(multipliers)
    if r <= 0 or p <= 0 or n <= 0:
        raise ValueError(f"reduction_size, parallel_outputs and multipliers must be > 0, got {r}, {p}, {n}")
    best = 0.0
    for s in range(1, min(r, n) + 1):
        vns = min(n // s, p)
        folds = math.ceil(r / s)
        util = vns * r / (folds * n)
        if util > best:
            best = util
            if best >= 1.0:
                break
    return min(best, 1.0)


mapping_utilization = maeri_mapping_utilization


def dense_compute_cycles(
    macs: float,
    fmt: str,
    cfg: DenseClusterConfig,
    mapping_utilization: float = 1.0,
    *,
    distributed_elems: float = 0.0,
    reduced_elems: float = 0.0,
    cluster: str = DENSE_CLUSTER,
) -> int:
    """Cycles for `macs` MACs of `fmt` on a dense cluster (see the module docstring).
    UnsupportedFormatError if `fmt` is not in cfg.rates."""
    rate = cfg.rate(fmt, cluster)
    if macs < 0:
        raise ValueError(f"macs must be >= 0, got {macs}")
    if not 0.0 < mapping_utilization <= 1.0:
        raise ValueError(f"mapping_utilization must be in (0, 1], got {mapping_utilization}")
    if macs == 0 and distributed_elems == 0 and reduced_elems == 0:
        return 0
    compute = math.ceil(macs / (cfg.multipliers * rate * mapping_utilization))
    dist = math.ceil(distributed_elems / cfg.distribution_bw_elems_per_cycle)
    red = math.ceil(reduced_elems / cfg.reduction_bw_elems_per_cycle)
    return int(max(compute, dist, red))


class DensePECluster(BusyUnit):
    """A dense PE array: one computation at a time (FIFO); records busy intervals, MACs per format
    and NoC hops (macs x noc_hops_per_mac)."""

    def __init__(self, env: simpy.Environment, cfg: DenseClusterConfig, stats: ActivityRecorder | None = None,
                 name: str = DENSE_CLUSTER):
        super().__init__(env, cfg, stats, name)

    def cycles(self, macs: float, fmt: str, mapping_utilization: float = 1.0, **bw: float) -> int:
        """Pure cost of a computation (same function the process uses)."""
        return dense_compute_cycles(macs, fmt, self.cfg, mapping_utilization, cluster=self.name, **bw)

    def compute(
        self, macs: float, fmt: str, mapping_utilization: float = 1.0, tag: str = "", **bw: float
    ) -> Generator[simpy.events.Event, object, int]:
        """Process body: hold the array for `cycles(...)`; returns the cycles. The format is checked
        before waiting (UnsupportedFormatError raised at once)."""
        cycles = self.cycles(macs, fmt, mapping_utilization, **bw)
        return self.execute(cycles, macs, fmt, tag)

    def execute(self, cycles: float, macs: float, fmt: str, tag: str = "") -> Generator[simpy.events.Event, object, int]:
        """Process body: hold the array for `cycles` already costed by a mapping (components.map_tile) and
        count `macs` MACs of `fmt`; `mac_slots` counts the MACs the array could have done meanwhile
        (multipliers x rate x cycles), so MACs / mac_slots is its spatial utilization."""
        return self._busy(cycles, "compute", tag, self.job_counters(cycles, macs, fmt))

    def job_counters(self, cycles: float, macs: float, fmt: str) -> dict[str, float]:
        """Counters of one computation of `macs` MACs of `fmt` that held the array `cycles` cycles."""
        rate = self.cfg.rate(fmt, self.name)
        return {macs_counter(fmt): macs, NOC_HOPS: macs * self.cfg.noc_hops_per_mac, "computes": 1,
                "mac_slots": self.cfg.multipliers * rate * cycles}
