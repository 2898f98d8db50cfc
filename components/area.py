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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import COMPONENT_NAMES
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


def sram_mm2(capacity_bytes: float, table: "AreaTable") -> float:
    """SRAM area of `capacity_bytes`, mm2."""
    return capacity_bytes / 1024.0 * table.sram_um2_per_kib / UM2_PER_MM2


def area_breakdown(hw: "HardwareConfig") -> AreaBreakdown:
    """Area of every modelled component of `hw` (see the module docstring for the model)."""
    t = hw.area_table()
    parts: dict[str, float] = {}
    if hw.dense_cluster is not None:
        c = hw.dense_cluster
        parts["dense_cluster.multipliers"] = c.multipliers * multiplier_um2(c, t) / UM2_PER_MM2
        parts["dense_cluster.interconnect"] = c.multipliers * dense_interconnect_um2_per_multiplier(c, t) / UM2_PER_MM2
        parts["dense_cluster.local_buffer"] = sram_mm2(c.local_buffer.capacity_bytes, t)
    if hw.sparse_cluster is not None:
        c = hw.sparse_cluster
        parts["sparse_cluster.multipliers"] = c.multipliers * multiplier_um2(c, t) / UM2_PER_MM2
        parts["sparse_cluster.interconnect"] = c.multipliers * sparse_interconnect_um2_per_multiplier(c, t) / UM2_PER_MM2
        parts["sparse_cluster.local_buffer"] = sram_mm2(c.local_buffer.capacity_bytes, t)
    parts["global_buffer"] = sram_mm2(hw.global_buffer.capacity_bytes, t)
    v = hw.vector_unit
    parts["vector_unit"] = v.lanes * v.ops_per_lane_per_cycle * t.vector_lane_um2 / UM2_PER_MM2
    if hw.detector is not None:
        d = hw.detector
        parts["detector"] = d.channels * d.counter_bits * t.register_um2_per_bit / UM2_PER_MM2
    return AreaBreakdown(parts)
