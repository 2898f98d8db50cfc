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
    ValidationInfo,
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
_MAX_COUNT = 2**53  # PositiveInt's bound: largest count (e.g. multipliers) a config may hold

PAPER_DEFAULT_THRESHOLD = 0.30
"""SQ-DM: a channel is sparse when its zero fraction exceeds 30% (PAPER.md, tag [S])."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_default=True)


class DramConfig(_Section):
    """Off-chip DRAM: `channels` striped channels sharing `bandwidth_gbytes_per_s` of peak bandwidth, each
    with `banks` banks of `row_bytes` rows under an open-page policy (model: components/dram.py).

    Physical address bits, most to least significant: row : bank : column_hi : channel : column_lo, where
    column_lo addresses `channel_interleave_bytes` (consecutive addresses stay that long in one channel)."""

    technology: str = Field(description="key of the energy table's dram_pj_per_bit (e.g. lpddr4, hbm2)")
    channels: PositiveInt
    bandwidth_gbytes_per_s: PositiveFloat = Field(description="total peak bandwidth over all channels, GB/s (1e9 B/s)")
    burst_bytes: PositiveInt
    row_bytes: PositiveInt = Field(description="row (page) size of one bank of one channel")
    banks: PositiveInt = Field(description="banks per channel; rows of different banks can be open at once")
    channel_interleave_bytes: PositiveInt = Field(
        description="bytes of consecutive addresses mapped to one channel before the next channel; a multiple of burst_bytes dividing row_bytes"
    )
    row_hit_latency_cycles: NonNegativeFloat
    row_miss_penalty_cycles: NonNegativeFloat = Field(description="precharge + activate (tRP + tRCD) of one bank, in cycles")
    row_activation_interval_cycles: NonNegativeFloat = Field(
        description="minimum spacing of row activations in one channel, max(tRRD, tFAW / 4), in cycles"
    )
    address_mapping: Literal["channel_last", "interleaved"]
    energy_pj_per_bit: Optional[NonNegativeFloat] = Field(None, description="override of the energy table")

    @model_validator(mode="after")
    def _row_holds_bursts(self):
        if self.row_bytes < self.burst_bytes:
            raise ValueError(f"row_bytes ({self.row_bytes}) must be >= burst_bytes ({self.burst_bytes})")
        return self

    @field_validator("channel_interleave_bytes")
    @classmethod
    def _interleave_fits(cls, v: int, info: ValidationInfo) -> int:
        burst, row = info.data.get("burst_bytes"), info.data.get("row_bytes")
        if burst is None or row is None or row < burst:  # reported on those fields / by _row_holds_bursts
            return v
        if v % burst or row % v:
            raise ValueError(f"must be a multiple of burst_bytes ({burst}) and divide row_bytes ({row}), got {v}")
        return v

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


class LocalBufferConfig(BufferConfig):
    """A PE cluster's local buffer: its port bandwidth may be stated per multiplier of the cluster
    (`bytes_per_cycle_per_port_per_multiplier`), so that it scales when the array is resized."""

    bytes_per_cycle_per_port_per_multiplier: Optional[PositiveFloat] = Field(
        None, description="bytes_per_cycle_per_port = this x the cluster's multipliers (set by the cluster)"
    )


# (absolute field, per-multiplier field) pairs of a cluster: the absolute value is ratio x multipliers.
_PER_MULTIPLIER_FIELDS: tuple[tuple[str, str], ...] = (
    ("distribution_bw_elems_per_cycle", "distribution_bw_elems_per_cycle_per_multiplier"),
    ("reduction_bw_elems_per_cycle", "reduction_bw_elems_per_cycle_per_multiplier"),
)
_LOCAL_BUFFER_PER_MULTIPLIER: tuple[str, str] = ("bytes_per_cycle_per_port", "bytes_per_cycle_per_port_per_multiplier")


def _is_count(v: Any) -> bool:
    """A usable multiplier count (anything else is left for field validation to report)."""
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v <= _MAX_COUNT


def _is_ratio(v: Any) -> bool:
    """A usable per-multiplier ratio (anything else is left for field validation to report)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 < v <= _MAX


def _derive_per_multiplier(section: dict[str, Any], pair: tuple[str, str], multipliers: int, where: str) -> dict[str, Any]:
    """`section` with its absolute field set to ratio x multipliers when the ratio is given.

    Both given is accepted only when they agree (a dumped config loads again); else ValueError.
    """
    absolute, ratio = pair
    r = section.get(ratio)
    if r is None or not _is_ratio(r):
        return section
    derived = float(r) * multipliers
    given = section.get(absolute)
    if given is not None and not _is_ratio(given):
        return section  # field validation reports the bad absolute value
    if given is not None and given != derived:
        raise ValueError(
            f"{where}{absolute} ({given!r}) disagrees with {where}{ratio} x multipliers = {r:g} x {multipliers} = "
            f"{derived:g}: give one of them"
        )
    return {**section, absolute: derived}


class DenseClusterConfig(_Section):
    """A MAERI-like dense PE array. `rates[fmt]` = MACs per multiplier per cycle; absent = unsupported.

    Bandwidths that scale with the array may be given per multiplier instead of absolute
    (`distribution_bw_elems_per_cycle_per_multiplier`, `reduction_bw_elems_per_cycle_per_multiplier`,
    `local_buffer.bytes_per_cycle_per_port_per_multiplier`): the absolute value is then ratio x
    multipliers, computed at validation, so a resized array (config `sizing:`, or a `multipliers`
    override) keeps its bandwidth per multiplier. Consumers always read the absolute fields.
    """

    multipliers: PositiveInt
    distribution_bw_elems_per_cycle: PositiveFloat
    reduction_bw_elems_per_cycle: PositiveFloat
    local_buffer: LocalBufferConfig
    rates: dict[FormatName, PositiveFloat] = Field(min_length=1)
    noc_hops_per_mac: NonNegativeFloat = Field(description="switch traversals per MAC (distribution + reduction), for NoC energy")
    distribution_bw_elems_per_cycle_per_multiplier: Optional[PositiveFloat] = Field(
        None, description="distribution_bw_elems_per_cycle = this x multipliers"
    )
    reduction_bw_elems_per_cycle_per_multiplier: Optional[PositiveFloat] = Field(
        None, description="reduction_bw_elems_per_cycle = this x multipliers"
    )

    @model_validator(mode="before")
    @classmethod
    def _absolute_from_per_multiplier(cls, data: Any) -> Any:
        """Fill the absolute bandwidths from their per-multiplier ratios (see the class docstring)."""
        if not isinstance(data, dict) or not _is_count(data.get("multipliers")):
            return data
        n = data["multipliers"]
        out = dict(data)
        for pair in _PER_MULTIPLIER_FIELDS:
            out = _derive_per_multiplier(out, pair, n, "")
        lb = out.get("local_buffer")
        if isinstance(lb, dict):
            out["local_buffer"] = _derive_per_multiplier(lb, _LOCAL_BUFFER_PER_MULTIPLIER, n, "local_buffer.")
        return out

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
    lanes_range: Optional[list[PositiveInt]] = Field(
        None, min_length=2, max_length=2, description="[lo, hi] lane counts believed reasonable (docs/sizing.md); swept by sensitivity studies"
    )

    @model_validator(mode="after")
    def _lanes_in_range(self):
        if self.lanes_range is not None:
            lo, hi = self.lanes_range
            if not lo <= self.lanes <= hi:
                raise ValueError(f"lanes_range [{lo}, {hi}] must hold lanes ({self.lanes})")
        return self


class DetectorConfig(_Section):
    """Time-step-aware sparsity detector: zero counters per output channel, a threshold, a label policy."""

    threshold: float = Field(PAPER_DEFAULT_THRESHOLD, gt=0.0, lt=1.0, description="sparse if zero fraction > threshold")
    counter_bits: PositiveInt
    channels: PositiveInt = Field(description="zero counters in hardware: the widest layer's output channels")
    update_latency_cycles: NonNegativeFloat
    policy: str = "per_step"
    k: Optional[PositiveInt] = Field(None, description="update period in steps for policy every_k")
    initial_label: Literal["dense", "sparse"] = Field("dense", description="label before any count exists "
                                                      "when the run has no calibration zero fractions")
    placement: Literal["balanced", "threshold"] = Field(
        "balanced", description="how work is split between the arrays (components/placement.py): 'threshold' "
        "is the paper's rule read literally, 'balanced' keeps both arrays busy")

    @field_validator("policy", mode="before")
    @classmethod
    def _off_is_a_name(cls, v: object) -> object:
        return "off" if v is False else v  # YAML 1.1 reads a bare `off` as false: it names the policy "off"

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
    broadcast_elementwise_fused: bool = Field(
        True, description="an add/sub/mul/div whose other operands are per-channel vectors or scalars (a bias, the "
        "time-embedding add, an attention scale, a rescale by a constant) runs in its producer's write-back, as "
        "NVDLA's SDP applies bias and per-channel or per-layer scaling in the convolution's output pipeline")
    residual_add_fused: bool = Field(
        True, description="an add/sub/mul of two full-size tensors (a residual add) runs in the later operand's "
        "producer's write-back, reading the other operand from the buffer or DRAM, as NVDLA's SDP runs an "
        "element-wise layer in its online mode")
    concat_as_view: bool = Field(
        True, description="a concatenation is a view: its consumers read its operands where their producers "
        "stored them (no pass, no tensor of its own), as compilers elide concats by addressing their parts")


class ResidencyConfig(_Section):
    """What stays on chip across layers and steps when it fits in the global buffer."""

    keep_weights_on_chip_if_fit: bool = True
    keep_skip_tensors_on_chip_if_fit: bool = True
    weight_budget_fraction: float = Field(0.5, ge=0.0, le=1.0, description="share of the global buffer resident weights may take (assumption)")
    tensor_budget_fraction: float = Field(0.25, ge=0.0, le=1.0, description="largest tensor passed on chip between adjacent ops, as a share of the global buffer (assumption)")
    skip_budget_fraction: float = Field(0.25, ge=0.0, le=1.0, description="share of the global buffer for long-lived skip/residual tensors (assumption)")
    prefetch_next_weights: bool = Field(True, description="while a node runs, load the next MAC node's first weight chunk into free global-buffer space, in the node's idle DRAM time")

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


class SizingConfig(_Section):
    """Derive one cluster's multiplier count from the area model at load time (docs/sizing.md).

    The target is the total area of another config (`iso_area_with`: a shipped config name, or a YAML
    path relative to this config's folder) or a number (`target_area_mm2`), exactly one of them. The
    count of `resize` is the multiple of `multiplier_granularity` whose total area is nearest the
    target; loading fails if that is off by more than `max_area_error_fraction`. Bandwidths stated per
    multiplier follow the derived count. A `multipliers` value written in the resized cluster (in the
    file or by a `--set` override) wins: the derivation is then off for it, and `sizing_result()` only
    reports how far the area is from the target.
    """

    iso_area_with: Optional[str] = Field(None, min_length=1, description="shipped config name or YAML path (relative to this config) whose total area is the target")
    target_area_mm2: Optional[PositiveFloat] = Field(None, description="total area target, mm2")
    resize: Literal["dense_cluster", "sparse_cluster"] = Field(description="the cluster whose multiplier count is derived")
    multiplier_granularity: PositiveInt = Field(description="the derived count is a multiple of this")
    max_area_error_fraction: float = Field(gt=0.0, lt=1.0, description="largest |area - target| / target accepted")

    @model_validator(mode="after")
    def _one_target(self):
        given = [f for f in ("iso_area_with", "target_area_mm2") if getattr(self, f) is not None]
        if len(given) != 1:
            what = "both" if given else "neither"
            raise ValueError(f"give exactly one of sizing.iso_area_with / sizing.target_area_mm2, got {what}")
        return self


@dataclasses.dataclass(frozen=True)
class SizingResult:
    """What `sizing:` did when the config was loaded (HardwareConfig.sizing_result())."""

    cluster: str  # the resized cluster
    target_area_mm2: float
    target_from: str  # the iso_area_with reference as written, or "target_area_mm2"
    multipliers: int  # the cluster's count after loading
    derived: bool  # False when the count was written explicitly (derivation off)
    area_mm2: float  # total area of the loaded config
    granularity: int

    @property
    def error_fraction(self) -> float:
        """(area - target) / target."""
        return (self.area_mm2 - self.target_area_mm2) / self.target_area_mm2


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
    sizing: Optional[SizingConfig] = Field(None, description="derive a cluster's multiplier count from an area target")

    _source_dir: Optional[Path] = PrivateAttr(default=None)
    _source: str = PrivateAttr(default="<dict>")
    _sizing: Optional[SizingResult] = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self):
        if self.dense_cluster is None and self.sparse_cluster is None:
            raise ValueError("needs at least one of dense_cluster / sparse_cluster")
        if self.sparse_cluster is not None and self.detector is None:
            raise ValueError("a sparse_cluster needs a detector section to route channels to it")
        if self.sizing is not None and getattr(self, self.sizing.resize) is None:
            raise ValueError(f"sizing.resize: {self.sizing.resize} is not in this config")
        return self

    def sizing_result(self) -> Optional[SizingResult]:
        """What the `sizing:` section did at load time (None without one, or when validated directly
        with model_validate instead of parse/load_hardware_config, which do the derivation)."""
        return self._sizing

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
    """Validate a mapping into a HardwareConfig, derive what its `sizing:` section asks for and resolve
    its tables; any failure is one ConfigError.

    `config_dir` is where relative table files and `sizing.iso_area_with` paths are looked for first
    (the config file's folder).
    """
    return _parse_hardware_config(data, source, config_dir, ())


def _parse_hardware_config(data: Any, source: str, config_dir: str | Path | None, chain: tuple[str, ...]) -> HardwareConfig:
    """parse_hardware_config; `chain` = resolved paths of the configs whose sizing led here (cycle check)."""
    if not isinstance(data, dict):
        raise ConfigError(source, "<root>", f"must be a mapping of sections, got {type(data).__name__}")
    if data.get("sizing") is None:
        return _validated(data, source, config_dir)
    sizing, section = _sizing_section(data, source)
    reference = _sizing_reference(sizing, source, config_dir, chain)
    derived = section.get("multipliers") is None  # a written count wins: derivation off for it
    if derived:
        data = {**data, sizing.resize: {**section, "multipliers": _derived_multipliers(data, sizing, section, reference, source, config_dir)}}
    cfg = _validated(data, source, config_dir)
    cfg._sizing = _check_sizing(cfg, sizing, reference, derived, source)
    return cfg


def _validated(data: dict[str, Any], source: str, config_dir: str | Path | None) -> HardwareConfig:
    """Schema validation + table resolution, no sizing."""
    cfg = validate_model(HardwareConfig, data, source)
    cfg._source_dir = Path(config_dir) if config_dir is not None else None
    cfg._source = source
    _check_tables(cfg, source)
    return cfg


def _sizing_section(data: dict[str, Any], source: str) -> tuple[SizingConfig, dict[str, Any]]:
    """The validated `sizing` section and the raw section of the cluster it resizes."""
    try:
        sizing = validate_model(SizingConfig, data["sizing"], source)
    except ConfigError as exc:
        field = "sizing" if exc.field == "<root>" else f"sizing.{exc.field}"
        raise ConfigError(source, field, exc.reason) from None
    section = data.get(sizing.resize)
    if not isinstance(section, dict):
        raise ConfigError(source, "sizing.resize", f"{sizing.resize} is not a section of this config: nothing to resize")
    return sizing, section


def _target_mm2(sizing: SizingConfig, reference: Optional[HardwareConfig], table: Any) -> float:
    """The target: `target_area_mm2`, or the reference's total area priced with `table` (this config's
    area table, so that both sides of "iso-area" use the same area model)."""
    if reference is None:
        return float(sizing.target_area_mm2)  # type: ignore[arg-type]  # one of the two is set
    from .area import area_breakdown  # lazy: area imports this module

    return area_breakdown(reference, table).total_mm2


def _derived_multipliers(data: dict[str, Any], sizing: SizingConfig, section: dict[str, Any],
                         reference: Optional[HardwareConfig], source: str, config_dir: str | Path | None) -> int:
    """The resized cluster's count: solved on the config validated with a placeholder count (the area of
    everything but that cluster's multipliers and interconnect does not depend on it); the caller then
    validates with the real count, so per-multiplier bandwidths follow it."""
    from .area import multipliers_for_area  # lazy: area imports this module

    trial = _validated({**data, sizing.resize: {**section, "multipliers": sizing.multiplier_granularity}}, source, config_dir)
    target_mm2 = _target_mm2(sizing, reference, trial.area_table())
    field = "sizing.target_area_mm2" if reference is None else "sizing.iso_area_with"
    try:
        return multipliers_for_area(trial, sizing.resize, target_mm2, sizing.multiplier_granularity, max_multipliers=_MAX_COUNT)
    except ValueError as exc:
        raise ConfigError(source, field, str(exc)) from None


def _sizing_reference(sizing: SizingConfig, source: str, config_dir: str | Path | None,
                      chain: tuple[str, ...]) -> Optional[HardwareConfig]:
    """The config named by `iso_area_with`, loaded (with its own sizing); None for `target_area_mm2`."""
    if sizing.iso_area_with is None:
        return None
    ref = sizing.iso_area_with
    field = "sizing.iso_area_with"
    path = _reference_path(ref, config_dir, source)
    try:
        key = str(path.resolve())
    except (OSError, ValueError, RuntimeError) as exc:
        raise ConfigError(source, field, f"bad path {ref!r} ({type(exc).__name__}: {exc})") from None
    if key in chain:
        loop = " -> ".join(Path(p).name for p in (*chain, key))
        raise ConfigError(source, field, f"iso_area_with references form a cycle ({loop})")
    try:
        return _parse_hardware_config(read_yaml_mapping(path), str(path), Path(key).parent, (*chain, key))
    except ConfigError as exc:
        raise ConfigError(source, field, f"reference {ref!r}: {exc}") from None


def _reference_path(ref: str, config_dir: str | Path | None, source: str) -> Path:
    """A shipped config's path for a bare name, else a YAML path (relative to `config_dir`)."""
    from .shipped import list_shipped_configs, shipped_config_path  # lazy: shipped imports this module

    p = Path(ref)
    if not p.suffix and len(p.parts) == 1:
        if ref not in list_shipped_configs():
            raise ConfigError(source, "sizing.iso_area_with", f"no shipped config {ref!r} (shipped: "
                              f"{', '.join(list_shipped_configs())}); a file needs its .yaml suffix")
        return shipped_config_path(ref)
    if p.is_absolute() or config_dir is None:
        return p
    return Path(config_dir) / p


def _check_sizing(cfg: HardwareConfig, sizing: SizingConfig, reference: Optional[HardwareConfig], derived: bool,
                  source: str) -> SizingResult:
    """What the sizing did, for the loaded config; a derived count off by more than
    max_area_error_fraction is a ConfigError naming the granularity."""
    result = SizingResult(
        cluster=sizing.resize,
        target_area_mm2=_target_mm2(sizing, reference, cfg.area_table()),
        target_from=sizing.iso_area_with if sizing.iso_area_with is not None else "target_area_mm2",
        multipliers=getattr(cfg, sizing.resize).multipliers,
        derived=derived,
        area_mm2=cfg.area_mm2().total_mm2,
        granularity=sizing.multiplier_granularity,
    )
    if derived and abs(result.error_fraction) > sizing.max_area_error_fraction:
        raise ConfigError(source, "sizing.multiplier_granularity",
                          f"the nearest multiple of {result.granularity} ({result.multipliers} multipliers) gives "
                          f"{result.area_mm2:.4f} mm2, {result.error_fraction:+.2%} from the target "
                          f"{result.target_area_mm2:.4f} mm2 (allowed {sizing.max_area_error_fraction:.2%})")
    return result


def hardware_config_from_yaml(text: str, source: str = "<string>", config_dir: str | Path | None = None) -> HardwareConfig:
    """Parse YAML text into a HardwareConfig (same checks and errors as load_hardware_config)."""
    return parse_hardware_config(parse_yaml_mapping(text, source), source, config_dir)


def load_hardware_config(path: str | Path) -> HardwareConfig:
    """Load a HardwareConfig from a YAML file. Raises ConfigError (one line: file, field path, reason)."""
    source = str(path)
    data = read_yaml_mapping(path)
    try:
        resolved = Path(path).resolve()
    except (OSError, ValueError, RuntimeError):
        return parse_hardware_config(data, source, None)
    return _parse_hardware_config(data, source, resolved.parent, (str(resolved),))


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
