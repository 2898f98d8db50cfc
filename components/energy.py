"""EnergyModel: counters x energy per event + static power x time, by component.

Priced counters (component names from components.config.COMPONENT_NAMES; anything else is ignored and
listed in `EnergyBreakdown.unpriced` so that a typo can't silently drop energy):
- dram: "bytes_moved" (every burst that crossed the interface) x 8 x pJ/bit; "row_misses" (row
  activations) x the table's dram_activation_pj of the config's DRAM technology (unpriced if absent)
- global_buffer, *.local_buffer: "read_bytes", "write_bytes" (or "read_bytes.<operand>", ...: the same
  bytes broken down by operand) x SRAM pJ/byte at the buffer's bank size (or the config's override)
- dense_cluster, sparse_cluster: "macs.<format>" x MAC pJ of the format; "noc_hops" x hop pJ;
  sparse only: "metadata_bits" read from the local buffer (x its read pJ/byte / 8)
- vector_unit: "ops" x vector op pJ
- detector: "zero_count_elements", "label_updates" (channel updates)
Static: the config's static_power_mw[component] if given, else leakage_mw_per_mm2 x the component's
area from the area model; DRAM background power x channels. 1 mW for 1 ns = 1 pJ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .config import (
    DENSE_CLUSTER,
    DETECTOR,
    DRAM,
    SPARSE_CLUSTER,
    VECTOR_UNIT,
    BufferConfig,
    HardwareConfig,
)
from .stats import ActivityRecorder

# Counter names (the components write exactly these).
BYTES_MOVED = "bytes_moved"
ROW_MISSES = "row_misses"
READ_BYTES = "read_bytes"
WRITE_BYTES = "write_bytes"
MACS_PREFIX = "macs."
NOC_HOPS = "noc_hops"
METADATA_BITS = "metadata_bits"
VECTOR_OPS = "ops"
ZERO_COUNT_ELEMENTS = "zero_count_elements"
LABEL_UPDATES = "label_updates"
# Counters that carry no energy of their own (counts for reports).
UNPRICED_OK = {
    "transfers", "bursts", "useful_bytes", "useful_bytes_read", "useful_bytes_write", "computes", "dense_macs", "skipped_macs",
    "allocations", "wrong_labels", "wrong_sparse_labels", "wrong_dense_labels", "labels_used",
    "label_update_events", "reads", "writes", "elements", "cycles", "mac_slots",
}
# Counter-name prefixes that carry no energy of their own (breakdowns of priced counters).
UNPRICED_PREFIXES = ("operand_bytes_moved.",)


def macs_counter(fmt: str) -> str:
    """Counter name of MACs executed in format `fmt`."""
    return MACS_PREFIX + fmt


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy in pJ: dynamic and static by component, and what could not be priced."""

    dynamic_pj: dict[str, float] = field(default_factory=dict)
    static_pj: dict[str, float] = field(default_factory=dict)
    unpriced: tuple[tuple[str, str], ...] = ()

    @property
    def by_component_pj(self) -> dict[str, float]:
        keys = set(self.dynamic_pj) | set(self.static_pj)
        return {k: self.dynamic_pj.get(k, 0.0) + self.static_pj.get(k, 0.0) for k in sorted(keys)}

    @property
    def total_dynamic_pj(self) -> float:
        return float(sum(self.dynamic_pj.values()))

    @property
    def total_static_pj(self) -> float:
        return float(sum(self.static_pj.values()))

    @property
    def total_pj(self) -> float:
        return self.total_dynamic_pj + self.total_static_pj


class EnergyModel:
    """Prices counters for one HardwareConfig. Build once, call `energy_pj` per run / per node."""

    def __init__(self, hw: HardwareConfig):
        self.hw = hw
        self.table = hw.energy_table()
        self.dram_pj_per_bit = hw.dram_energy_pj_per_bit()
        self.dram_activation_pj: float | None = self.table.dram_activation_pj.get(hw.dram.technology)
        self._buffers = hw.buffers()
        self._static_mw = self._static_power_mw()

    # ---- per-event prices (pJ) -----------------------------------------------------------------
    def mac_pj(self, fmt: str) -> float:
        """Energy of one MAC in `fmt`."""
        return self.table.mac_pj[fmt]

    def buffer_read_pj_per_byte(self, buf: BufferConfig) -> float:
        """Read energy per byte of a buffer: its override, else the SRAM table at its bank size."""
        if buf.read_energy_pj_per_byte is not None:
            return float(buf.read_energy_pj_per_byte)
        return self.table.sram_read_pj_per_byte(buf.bank_bytes)

    def buffer_write_pj_per_byte(self, buf: BufferConfig) -> float:
        """Write energy per byte of a buffer: its override, else the SRAM table at its bank size."""
        if buf.write_energy_pj_per_byte is not None:
            return float(buf.write_energy_pj_per_byte)
        return self.table.sram_write_pj_per_byte(buf.bank_bytes)

    def event_pj(self, component: str, counter: str) -> float | None:
        """Energy of one unit of `counter` of `component`, or None if that counter carries no energy."""
        if component == DRAM and counter == BYTES_MOVED:
            return 8.0 * self.dram_pj_per_bit
        if component == DRAM and counter == ROW_MISSES:
            return self.dram_activation_pj
        if component in self._buffers:
            buf = self._buffers[component]
            if counter == READ_BYTES or counter.startswith(READ_BYTES + "."):  # ".<operand>": by operand
                return self.buffer_read_pj_per_byte(buf)
            if counter == WRITE_BYTES or counter.startswith(WRITE_BYTES + "."):
                return self.buffer_write_pj_per_byte(buf)
        if component in (DENSE_CLUSTER, SPARSE_CLUSTER):
            if counter.startswith(MACS_PREFIX):
                return self.table.mac_pj.get(counter[len(MACS_PREFIX):])
            if counter == NOC_HOPS:
                return self.table.noc_hop_pj
            if counter == METADATA_BITS:
                local = self._buffers.get(component + ".local_buffer")
                return self.buffer_read_pj_per_byte(local) / 8.0 if local is not None else None
        if component == VECTOR_UNIT and counter == VECTOR_OPS:
            return self.table.vector_op_pj
        if component == DETECTOR:
            if counter == ZERO_COUNT_ELEMENTS:
                return self.table.zero_count_pj_per_element
            if counter == LABEL_UPDATES:
                return self.table.label_update_pj_per_channel
        return None

    # ---- totals ----------------------------------------------------------------------------------
    def static_power_mw(self) -> dict[str, float]:
        """Static power by component (mW)."""
        return dict(self._static_mw)

    def energy_pj(
        self, counters: Mapping[tuple[str, str], float] | ActivityRecorder, elapsed_cycles: float = 0.0
    ) -> EnergyBreakdown:
        """Dynamic energy of `counters` by component + static power x `elapsed_cycles` (at the clock)."""
        if isinstance(counters, ActivityRecorder):
            counters = counters.counters
        if elapsed_cycles < 0:
            raise ValueError(f"elapsed_cycles must be >= 0, got {elapsed_cycles}")
        dynamic: dict[str, float] = {}
        unpriced: list[tuple[str, str]] = []
        for (component, counter), amount in counters.items():
            price = self.event_pj(component, counter)
            if price is None:
                if counter not in UNPRICED_OK and not counter.startswith(UNPRICED_PREFIXES):
                    unpriced.append((component, counter))
                continue
            dynamic[component] = dynamic.get(component, 0.0) + price * float(amount)
        elapsed_ns = elapsed_cycles / self.hw.clock_ghz
        static = {c: mw * elapsed_ns for c, mw in self._static_mw.items()}  # 1 mW x 1 ns = 1 pJ
        return EnergyBreakdown(dynamic, static, tuple(sorted(unpriced)))

    def _static_power_mw(self) -> dict[str, float]:
        area = self.hw.area_mm2().by_component
        leak = self.table.leakage_mw_per_mm2
        out = {c: a * leak for c, a in area.items()}
        out[DRAM] = self.table.dram_background_mw_per_channel * self.hw.dram.channels
        out.update(self.hw.energy.static_power_mw)
        return out


__all__ = ["EnergyModel", "EnergyBreakdown", "macs_counter"]
