"""Area model: mm2 of each component of a HardwareConfig from the area table.

Model (all inputs from components/data/area_28nm.yaml, each with its source or assumption):
- Multiplier of a cluster: a multiplier delivering `rate` MACs/cycle of format f needs `rate` x the area
  of a native multiplier + accumulator of f's family, so its area is the max over its supported formats
  of rate(f) x (multiply_um2 + accumulate_um2)[family(f)], plus the largest per-multiplier share of
  shared-scale hardware among its formats. (E.g. INT8 at rate 0.5 on an INT4-native multiplier costs
  half an INT8 multiplier: a 4x8-bit array, consistent with area ~ bits^2.)
- Interconnect per multiplier: switch ports x datapath bits x noc_switch_um2_per_bit, datapath bits = the
  widest element among the supported formats. Dense (MAERI): maeri_switch_ports_per_multiplier ports.
  Sparse (SIGMA): a Benes network (2 ceil(log2 N) - 1 ports per multiplier, N = multipliers per network:
  `benes_group_multipliers`, SIGMA's Flex-DPE size, or the whole array) + the forwarding adder network
  (sigma_fan_ports_per_multiplier) + bitmap logic per multiplier.
- SRAM (global and local buffers): KiB x sram_um2_per_kib.
- Vector unit: lanes x ops_per_lane_per_cycle x vector_lane_um2.
- Detector: channels x counter_bits x register_um2_per_bit.
Controller, I/O and DRAM PHY are not modelled (reported as absent, not zero-cost by omission).

Sizing (`multipliers_for_area`, used by a config's `sizing:` section, docs/sizing.md): the total area is
fixed + N x pe_um2_per_multiplier(N) for the resized cluster, non-decreasing in N (the Benes network's
ports grow with log2 N); the count is the multiple of the granularity whose area is nearest the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import COMPONENT_NAMES, DENSE_CLUSTER, SPARSE_CLUSTER
from .formats import element_bits, format_family

if TYPE_CHECKING:  # pragma: no cover
    from .config import DenseClusterConfig, HardwareConfig
    from .tables import AreaTable

UM2_PER_MM2 = 1e6


@dataclass(frozen=True)
class AreaBreakdown:
    """Area by part (mm2), e.g. "dense_cluster.multipliers"; `by_component` sums the parts of each
    component name of components.config.COMPONENT_NAMES (local buffers are components of their own)."""

    parts_mm2: dict[str, float] = field(default_factory=dict)  # e.g. "dense_cluster.multipliers"

    @property
    def by_component(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, v in self.parts_mm2.items():
            comp = key if key in COMPONENT_NAMES else key.rsplit(".", 1)[0]
            out[comp] = out.get(comp, 0.0) + v
        return out

    @property
    def total_mm2(self) -> float:
        return float(sum(self.parts_mm2.values()))

    def __getitem__(self, key: str) -> float:
        if key in self.parts_mm2:
            return self.parts_mm2[key]
        return self.by_component[key]


def multiplier_um2(cluster: "DenseClusterConfig", table: "AreaTable") -> float:
    """Area of one multiplier (+ accumulator + shared-scale share) of a cluster, um2."""
    mac = max(r * (table.multiply_um2[format_family(f)] + table.accumulate_um2[format_family(f)]) for f, r in cluster.rates.items())
    scale = max((table.scale_um2_per_multiplier.get(f, 0.0) for f in cluster.rates), default=0.0)
    return mac + scale


def datapath_bits(cluster: "DenseClusterConfig") -> int:
    """Widest element (bits) among the cluster's formats: the width its networks must carry."""
    return max(element_bits(f) for f in cluster.rates)


def dense_interconnect_um2_per_multiplier(cluster: "DenseClusterConfig", table: "AreaTable") -> float:
    """MAERI distribution/multiplier/reduction switches per multiplier, um2."""
    return table.maeri_switch_ports_per_multiplier * datapath_bits(cluster) * table.noc_switch_um2_per_bit


def sparse_interconnect_um2_per_multiplier(cluster: "DenseClusterConfig", table: "AreaTable") -> float:
    """SIGMA Benes + forwarding adder network + bitmap logic per multiplier, um2."""
    n = cluster.multipliers
    group = getattr(cluster, "benes_group_multipliers", None)
    if group is not None:
        n = min(n, group)
    benes_ports = max(2.0 * math.ceil(math.log2(n)) - 1.0, 1.0) if n > 1 else 1.0
    ports = benes_ports + table.sigma_fan_ports_per_multiplier
    return ports * datapath_bits(cluster) * table.noc_switch_um2_per_bit + table.bitmap_logic_um2_per_multiplier


def interconnect_um2_per_multiplier(cluster_name: str, cluster: "DenseClusterConfig", table: "AreaTable") -> float:
    """Interconnect per multiplier of the cluster called `cluster_name`: SIGMA's for the sparse cluster,
    MAERI's for a dense one, um2."""
    if cluster_name == SPARSE_CLUSTER:
        return sparse_interconnect_um2_per_multiplier(cluster, table)
    return dense_interconnect_um2_per_multiplier(cluster, table)


def pe_um2_per_multiplier(cluster_name: str, cluster: "DenseClusterConfig", table: "AreaTable") -> float:
    """Everything that scales with the multiplier count, per multiplier: multiplier + accumulator +
    shared-scale share + interconnect, um2 (the "area of one multiplier" that iso-area sizing trades)."""
    return multiplier_um2(cluster, table) + interconnect_um2_per_multiplier(cluster_name, cluster, table)


def sram_mm2(capacity_bytes: float, table: "AreaTable") -> float:
    """SRAM area of `capacity_bytes`, mm2."""
    return capacity_bytes / 1024.0 * table.sram_um2_per_kib / UM2_PER_MM2


def area_breakdown(hw: "HardwareConfig", table: "AreaTable | None" = None) -> AreaBreakdown:
    """Area of every modelled component of `hw` (see the module docstring for the model), with the
    config's own area table, or `table` (e.g. one point of a sensitivity sweep)."""
    t = table if table is not None else hw.area_table()
    parts: dict[str, float] = {}
    for name, c in hw.clusters().items():
        parts[f"{name}.multipliers"] = c.multipliers * multiplier_um2(c, t) / UM2_PER_MM2
        parts[f"{name}.interconnect"] = c.multipliers * interconnect_um2_per_multiplier(name, c, t) / UM2_PER_MM2
        parts[f"{name}.local_buffer"] = sram_mm2(c.local_buffer.capacity_bytes, t)
    parts["global_buffer"] = sram_mm2(hw.global_buffer.capacity_bytes, t)
    v = hw.vector_unit
    parts["vector_unit"] = v.lanes * v.ops_per_lane_per_cycle * t.vector_lane_um2 / UM2_PER_MM2
    if hw.detector is not None:
        d = hw.detector
        parts["detector"] = d.channels * d.counter_bits * t.register_um2_per_bit / UM2_PER_MM2
    return AreaBreakdown(parts)


def fixed_area_mm2(hw: "HardwareConfig", cluster_name: str, table: "AreaTable | None" = None) -> float:
    """Area of `hw` that does not scale with `cluster_name`'s multiplier count (buffers, vector unit,
    detector, the other cluster), mm2."""
    a = area_breakdown(hw, table).parts_mm2
    return float(sum(v for k, v in a.items() if k not in (f"{cluster_name}.multipliers", f"{cluster_name}.interconnect")))


def area_with_multipliers_mm2(hw: "HardwareConfig", cluster_name: str, multipliers: int,
                              table: "AreaTable | None" = None, fixed_mm2: float | None = None) -> float:
    """Total area of `hw` with `cluster_name` resized to `multipliers` (nothing else changed), mm2."""
    t = table if table is not None else hw.area_table()
    fixed = fixed_area_mm2(hw, cluster_name, t) if fixed_mm2 is None else fixed_mm2
    cluster = getattr(hw, cluster_name).model_copy(update={"multipliers": int(multipliers)})
    return fixed + multipliers * pe_um2_per_multiplier(cluster_name, cluster, t) / UM2_PER_MM2


def multipliers_for_area(hw: "HardwareConfig", cluster_name: str, target_mm2: float, granularity: int,
                         table: "AreaTable | None" = None, max_multipliers: int | None = None) -> int:
    """The multiple of `granularity` that makes `hw`'s total area nearest `target_mm2` when only
    `cluster_name`'s multiplier count changes (ties go to the larger count).

    The area is non-decreasing in the count, so the count is found by bisection and a larger target
    never gives fewer multipliers. ValueError (a one-line reason) when the target is not above the area
    that does not scale with the count, when the model prices a multiplier at 0 um2, or when the count
    would exceed `max_multipliers` (None: no limit).
    """
    if getattr(hw, cluster_name, None) is None:
        raise ValueError(f"{cluster_name} is not in this config")
    if granularity <= 0:
        raise ValueError(f"granularity must be > 0 multipliers, got {granularity}")
    t = table if table is not None else hw.area_table()
    fixed = fixed_area_mm2(hw, cluster_name, t)
    if not target_mm2 > fixed:
        raise ValueError(f"target {target_mm2:.4f} mm2 is not above the {fixed:.4f} mm2 that does not scale with "
                         f"{cluster_name}.multipliers (buffers, vector unit, other units)")

    def area(k: int) -> float:
        return area_with_multipliers_mm2(hw, cluster_name, k * granularity, t, fixed)

    first_um2 = area(1) - fixed
    if not first_um2 > 0.0:
        raise ValueError(f"the area table prices a {cluster_name} multiplier at 0 um2: no count reaches a target")
    # per-multiplier area is non-decreasing in the count, so `hi` granules cover the target
    hi = max(1, math.ceil((target_mm2 - fixed) / first_um2))
    if max_multipliers is not None:
        hi = min(hi, max_multipliers // granularity)
        if hi < 1 or area(hi) < target_mm2:
            raise ValueError(f"target {target_mm2:.4f} mm2 needs more than {max_multipliers} multipliers")
    lo = 1
    while lo < hi:  # smallest k in [1, hi] with area(k) >= target
        mid = (lo + hi) // 2
        if area(mid) >= target_mm2:
            hi = mid
        else:
            lo = mid + 1
    k = lo
    if k > 1 and target_mm2 - area(k - 1) < area(k) - target_mm2:
        k -= 1
    return k * granularity


def iso_area_multipliers(hw: "HardwareConfig", reference: "HardwareConfig", table: "AreaTable | None" = None) -> int:
    """The count `hw`'s `sizing:` section derives at the total area of `reference`, both priced with
    `table` (default: `hw`'s own table): what the derivation gives under another area table, e.g. one
    point of a sensitivity sweep (tests/components/test_area_sensitivity.py, bench/area_sensitivity.py)."""
    if hw.sizing is None:
        raise ValueError(f"{hw.name or 'this config'} has no sizing section")
    t = table if table is not None else hw.area_table()
    target = area_breakdown(reference, t).total_mm2
    return multipliers_for_area(hw, hw.sizing.resize, target, hw.sizing.multiplier_granularity, t)


def sparse_to_dense_multiplier_area_ratio(hw: "HardwareConfig", table: "AreaTable | None" = None) -> float:
    """Area of one sparse-cluster multiplier over one dense-cluster multiplier of `hw` (each with its
    interconnect share): what a channel on the sparse array costs in silicon relative to the dense one."""
    if hw.dense_cluster is None or hw.sparse_cluster is None:
        raise ValueError(f"{hw.name or 'this config'} needs both a dense and a sparse cluster")
    t = table if table is not None else hw.area_table()
    return pe_um2_per_multiplier(SPARSE_CLUSTER, hw.sparse_cluster, t) / pe_um2_per_multiplier(DENSE_CLUSTER, hw.dense_cluster, t)
