"""HardwareConfig: the pydantic v2 model of one accelerator, loaded from YAML.

Every section forbids unknown keys, is strict about types (a YAML string is not a number, 1 is not a
bool) and rejects non-finite numbers. Numbers with a published or assumed value live in the shipped
configs (`components/configs/`) and data tables (`components/data/`), never as code defaults; the only
code defaults are switches (booleans, policy names) and the paper's 30% detector threshold.

Loading errors are always one `ConfigError` with a one-line ``file: field.path: reason`` message.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from ._loading import parse_yaml_mapping, read_yaml_mapping, validate_model
from .errors import ConfigError, UnsupportedFormatError
from .formats import FormatName

# Names of the hardware components; counters, energy and area are reported under these names.
DRAM = "dram"
GLOBAL_BUFFER = "global_buffer"
DENSE_CLUSTER = "dense_cluster"
SPARSE_CLUSTER = "sparse_cluster"
VECTOR_UNIT = "vector_unit"
DETECTOR = "detector"
DENSE_LOCAL_BUFFER = "dense_cluster.local_buffer"
SPARSE_LOCAL_BUFFER = "sparse_cluster.local_buffer"
COMPONENT_NAMES: tuple[str, ...] = (
    DRAM,
    GLOBAL_BUFFER,
    DENSE_CLUSTER,
    DENSE_LOCAL_BUFFER,
    SPARSE_CLUSTER,
    SPARSE_LOCAL_BUFFER,
    VECTOR_UNIT,
    DETECTOR,
)

# Bounds keep every number exactly representable as a float64 (2**53) and finite in arithmetic.
_MAX = float(2**53)
PositiveInt = Annotated[int, Field(gt=0, le=2**53)]
PositiveFloat = Annotated[float, Field(gt=0.0, le=_MAX)]
NonNegativeFloat = Annotated[float, Field(ge=0.0, le=_MAX)]

PAPER_DEFAULT_THRESHOLD = 0.30
"""SQ-DM: a channel is sparse when its zero fraction exceeds 30% (PAPER.md, tag [S])."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_default=True)


class DramConfig(_Section):
    """Off-chip DRAM: `channels` striped channels sharing `bandwidth_gbytes_per_s` of peak bandwidth."""

    technology: str = Field(description="key of the energy table's dram_pj_per_bit (e.g. lpddr4, hbm2)")
    channels: PositiveInt
    bandwidth_gbytes_per_s: PositiveFloat = Field(description="total peak bandwidth over all channels, GB/s (1e9 B/s)")
    burst_bytes: PositiveInt
    row_bytes: PositiveInt
    row_hit_latency_cycles: NonNegativeFloat
    row_miss_penalty_cycles: NonNegativeFloat
    address_mapping: Literal["channel_last", "interleaved"]
    energy_pj_per_bit: Optional[NonNegativeFloat] = Field(None, description="override of the energy table")

    @model_validator(mode="after")
    def _row_holds_bursts(self):
        if self.row_bytes < self.burst_bytes:
            raise ValueError(f"row_bytes ({self.row_bytes}) must be >= burst_bytes ({self.burst_bytes})")
        return self

    def bytes_per_cycle(self, clock_ghz: float) -> float:
        """Peak bytes per clock cycle over all channels at `clock_ghz`."""
        return self.bandwidth_gbytes_per_s / clock_ghz


class BufferConfig(_Section):
    """An on-chip SRAM buffer: capacity, ports x bytes/cycle, banks (for energy), double buffering."""

    capacity_bytes: PositiveInt
    ports: PositiveInt
    bytes_per_cycle_per_port: PositiveFloat
    banks: PositiveInt = 1
    double_buffered: bool
    read_energy_pj_per_byte: Optional[NonNegativeFloat] = Field(None, description="override; default from the SRAM table at capacity/banks")
    write_energy_pj_per_byte: Optional[NonNegativeFloat] = Field(None, description="override; default from the SRAM table")

    @property
    def bank_bytes(self) -> float:
        """Capacity of one bank (the macro size that sets energy per access)."""
        return self.capacity_bytes / self.banks

    @property
    def tile_capacity_bytes(self) -> int:
        """Bytes one tile may use: half the buffer when double buffered (the other half is loading)."""
        return self.capacity_bytes // 2 if self.double_buffered else self.capacity_bytes


class DenseClusterConfig(_Section):
    """A MAERI-like dense PE array. `rates[fmt]` = MACs per multiplier per cycle; absent = unsupported."""

    multipliers: PositiveInt
    distribution_bw_elems_per_cycle: PositiveFloat
    reduction_bw_elems_per_cycle: PositiveFloat
    local_buffer: BufferConfig
    rates: dict[FormatName, PositiveFloat] = Field(min_length=1)
    noc_hops_per_mac: NonNegativeFloat = Field(description="switch traversals per MAC (distribution + reduction), for NoC energy")

    def rate(self, fmt: str, cluster: str = DENSE_CLUSTER) -> float:
        """MACs per multiplier per cycle for `fmt`; UnsupportedFormatError if the cluster can't run it."""
        try:
            return float(self.rates[fmt])  # type: ignore[index]
        except KeyError:
            raise UnsupportedFormatError(fmt, cluster, list(self.rates)) from None

    def peak_macs_per_cycle(self, fmt: str, cluster: str = DENSE_CLUSTER) -> float:
        """multipliers x rate(fmt)."""
        return self.multipliers * self.rate(fmt, cluster)


class SparseClusterConfig(DenseClusterConfig):
    """A SIGMA-like sparse PE array: bitmap-compressed activations, work only for non-zeros."""

    bitmap_bits_per_element: PositiveFloat
    metadata_bw_bits_per_cycle: PositiveFloat
    load_imbalance: float = Field(ge=1.0, le=_MAX, description="work inflation from uneven non-zeros across multipliers, >= 1")
    benes_group_multipliers: Optional[PositiveInt] = Field(
        None, description="multipliers per Benes network (SIGMA Flex-DPE size); None = one network over the whole array"
    )


class VectorUnitConfig(_Section):
    """Vector unit for norms, softmax, activations and elementwise ops (FP16)."""

    lanes: PositiveInt
    ops_per_lane_per_cycle: PositiveFloat
    ops_per_element: dict[str, PositiveFloat] = Field(description="element operations per element, by op kind (assumptions in the config)")


class DetectorConfig(_Section):
    """Time-step-aware sparsity detector: zero counters per output channel, a threshold, a label policy."""

    threshold: float = Field(PAPER_DEFAULT_THRESHOLD, gt=0.0, lt=1.0, description="sparse if zero fraction > threshold")
    counter_bits: PositiveInt
    channels: PositiveInt = Field(description="zero counters in hardware: the widest layer's output channels")
    update_latency_cycles: NonNegativeFloat
    policy: str = "per_step"
    k: Optional[PositiveInt] = Field(None, description="update period in steps for policy every_k")
    initial_label: Literal["dense", "sparse"] = Field("dense", description="label before any count exists")

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, v: str) -> str:
        from .detector import registered_policies  # lazy: detector imports this module

        if v not in registered_policies():
            raise ValueError(f"unknown policy {v!r}; known: {', '.join(registered_policies())}")
        return v

    @model_validator(mode="after")
    def _k_iff_every_k(self):
        if self.policy == "every_k" and self.k is None:
            raise ValueError("policy 'every_k' needs detector.k (steps between label updates)")
        if self.policy != "every_k" and self.k is not None:
            raise ValueError(f"detector.k is only meaningful with policy 'every_k', not {self.policy!r}")
        return self


class FusionConfig(_Section):
    """Which post-processing is fused into the producer's write-back (decides extra passes / traffic)."""

    relu_quant_zero_count_fused: bool = True


class ResidencyConfig(_Section):
    """What stays on chip across layers and steps when it fits in the global buffer."""

    keep_weights_on_chip_if_fit: bool = True
    keep_skip_tensors_on_chip_if_fit: bool = True
    weight_budget_fraction: float = Field(0.5, ge=0.0, le=1.0, description="share of the global buffer resident weights may take (assumption)")
    tensor_budget_fraction: float = Field(0.25, ge=0.0, le=1.0, description="largest tensor passed on chip between adjacent ops, as a share of the global buffer (assumption)")
    skip_budget_fraction: float = Field(0.25, ge=0.0, le=1.0, description="share of the global buffer for long-lived skip/residual tensors (assumption)")

    @model_validator(mode="after")
    def _budgets_fit(self):
        total = self.weight_budget_fraction + self.skip_budget_fraction
        if total > 1.0:
            raise ValueError(f"weight_budget_fraction + skip_budget_fraction = {total:g} exceeds the whole buffer (1.0)")
        return self


class EnergyConfig(_Section):
    """Energy table file (name in components/data or next to the config, or absolute) + overrides (pJ, mW)."""

    table_file: str = "energy_28nm.yaml"
    mac_pj: dict[FormatName, NonNegativeFloat] = Field(default_factory=dict)
    noc_hop_pj: Optional[NonNegativeFloat] = None
    vector_op_pj: Optional[NonNegativeFloat] = None
    zero_count_pj_per_element: Optional[NonNegativeFloat] = None
    label_update_pj_per_channel: Optional[NonNegativeFloat] = None
    leakage_mw_per_mm2: Optional[NonNegativeFloat] = None
    static_power_mw: dict[str, NonNegativeFloat] = Field(default_factory=dict, description="per component, replaces the area-based leakage")

    @field_validator("static_power_mw")
    @classmethod
    def _known_components(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k in v if k not in COMPONENT_NAMES]
        if bad:
            raise ValueError(f"unknown component(s) {', '.join(map(repr, bad))}; known: {', '.join(COMPONENT_NAMES)}")
        return v


class AreaConfig(_Section):
    """Area table file (name in components/data or next to the config, or absolute)."""

    table_file: str = "area_28nm.yaml"


class HardwareConfig(_Section):
    """One accelerator. Time unit of the whole simulator: one cycle of `clock_ghz`."""

    name: str = ""
    description: str = ""
    default_policy: str = Field("", description="precision policy (quant/policies) this machine is evaluated with by default")
    clock_ghz: PositiveFloat
    dram: DramConfig
    global_buffer: BufferConfig
    dense_cluster: Optional[DenseClusterConfig] = None
    sparse_cluster: Optional[SparseClusterConfig] = None
    vector_unit: VectorUnitConfig
    detector: Optional[DetectorConfig] = None
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    residency: ResidencyConfig = Field(default_factory=ResidencyConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    area: AreaConfig = Field(default_factory=AreaConfig)

    _source_dir: Optional[Path] = PrivateAttr(default=None)
    _source: str = PrivateAttr(default="<dict>")

    @model_validator(mode="after")
    def _consistent(self):
        if self.dense_cluster is None and self.sparse_cluster is None:
            raise ValueError("needs at least one of dense_cluster / sparse_cluster")
        if self.sparse_cluster is not None and self.detector is None:
            raise ValueError("a sparse_cluster needs a detector section to route channels to it")
        return self

    # ---- derived views -------------------------------------------------------------------------
    def clusters(self) -> dict[str, DenseClusterConfig]:
        """The PE clusters present, by component name."""
        out: dict[str, DenseClusterConfig] = {}
        if self.dense_cluster is not None:
            out[DENSE_CLUSTER] = self.dense_cluster
        if self.sparse_cluster is not None:
            out[SPARSE_CLUSTER] = self.sparse_cluster
        return out

    def buffers(self) -> dict[str, BufferConfig]:
        """All on-chip buffers, by component name."""
        out = {GLOBAL_BUFFER: self.global_buffer}
        if self.dense_cluster is not None:
            out[DENSE_LOCAL_BUFFER] = self.dense_cluster.local_buffer
        if self.sparse_cluster is not None:
            out[SPARSE_LOCAL_BUFFER] = self.sparse_cluster.local_buffer
        return out

    def supported_formats(self) -> dict[str, tuple[str, ...]]:
        """Formats each cluster runs, by cluster name."""
        return {name: tuple(c.rates) for name, c in self.clusters().items()}

    def dram_bytes_per_cycle(self) -> float:
        """Peak DRAM bytes per cycle at this clock."""
        return self.dram.bytes_per_cycle(self.clock_ghz)

    def cycles_to_seconds(self, cycles: float) -> float:
        """Cycles of this clock -> seconds."""
        return cycles / (self.clock_ghz * 1e9)

    def table_path(self, which: Literal["energy", "area"]) -> Path:
        """Resolved path of the energy or area table this config uses."""
        from .tables import find_table_file

        name = self.energy.table_file if which == "energy" else self.area.table_file
        return find_table_file(name, self._source_dir)

    def energy_table(self):
        """The energy table (components.tables.EnergyTable) with this config's overrides applied."""
        from .tables import load_energy_table

        t = load_energy_table(self.table_path("energy"))
        e = self.energy
        changes: dict[str, Any] = {}
        if e.mac_pj:
            changes["mac_pj"] = {**t.mac_pj, **e.mac_pj}
        for f in ("noc_hop_pj", "vector_op_pj", "zero_count_pj_per_element", "label_update_pj_per_channel", "leakage_mw_per_mm2"):
            if getattr(e, f) is not None:
                changes[f] = getattr(e, f)
        return dataclasses.replace(t, **changes) if changes else t

    def dram_energy_pj_per_bit(self) -> float:
        """DRAM energy per bit: the dram.energy_pj_per_bit override, else the table's value for dram.technology."""
        if self.dram.energy_pj_per_bit is not None:
            return float(self.dram.energy_pj_per_bit)
        table = self.energy_table()
        try:
            return table.dram_pj_per_bit[self.dram.technology]
        except KeyError:
            raise ConfigError(
                self.source_name(),
                "dram.technology",
                f"{self.dram.technology!r} is not in the energy table ({', '.join(table.dram_pj_per_bit)})",
            ) from None

    def area_table(self):
        """The area table (components.tables.AreaTable)."""
        from .tables import load_area_table

        return load_area_table(self.table_path("area"))

    def area_mm2(self):
        """Area breakdown (components.area.AreaBreakdown: by component, total) from the area model."""
        from .area import area_breakdown

        return area_breakdown(self)

    def source_name(self) -> str:
        """Where this config came from (for messages)."""
        return self._source


# ---- loading ---------------------------------------------------------------------------------------
def parse_hardware_config(data: Any, source: str = "<dict>", config_dir: str | Path | None = None) -> HardwareConfig:
    """Validate a mapping into a HardwareConfig and resolve its tables; any failure is one ConfigError.

    `config_dir` is where relative table files are looked for first (the config file's folder).
    """
    if not isinstance(data, dict):
        raise ConfigError(source, "<root>", f"must be a mapping of sections, got {type(data).__name__}")
    cfg = validate_model(HardwareConfig, data, source)
    cfg._source_dir = Path(config_dir) if config_dir is not None else None
    cfg._source = source
    _check_tables(cfg, source)
    return cfg


def hardware_config_from_yaml(text: str, source: str = "<string>", config_dir: str | Path | None = None) -> HardwareConfig:
    """Parse YAML text into a HardwareConfig (same checks and errors as load_hardware_config)."""
    return parse_hardware_config(parse_yaml_mapping(text, source), source, config_dir)


def load_hardware_config(path: str | Path) -> HardwareConfig:
    """Load a HardwareConfig from a YAML file. Raises ConfigError (one line: file, field path, reason)."""
    source = str(path)
    data = read_yaml_mapping(path)
    try:
        config_dir = Path(path).resolve().parent
    except (OSError, ValueError, RuntimeError):
        config_dir = None
    return parse_hardware_config(data, source, config_dir)


def _check_tables(cfg: HardwareConfig, source: str) -> None:
    """Resolve the energy and area tables now, so that a bad table fails at load time, naming the field."""
    for which, field in (("energy", "energy.table_file"), ("area", "area.table_file")):
        try:
            getattr(cfg, f"{which}_table")()
        except ConfigError as exc:
            raise ConfigError(source, field, f"table {exc.source}: {exc.field}: {exc.reason}") from None
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(source, field, f"{type(exc).__name__}: {exc}") from None
    try:
        cfg.dram_energy_pj_per_bit()
    except ConfigError as exc:
        raise ConfigError(source, exc.field, exc.reason) from None
