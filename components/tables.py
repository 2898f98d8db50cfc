"""Energy and area data tables (`components/data/*.yaml`): schema, loading, node scaling.

The YAML files keep the published 45 nm numbers with their sources; this module applies the stated
scaling rule once and hands out plain numbers at the table's node (28 nm by default). Nothing here
holds a number of its own.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from ._loading import read_yaml_mapping, validate_model
from .errors import ConfigError
from .formats import FAMILY_ELEMENT_BITS, FORMATS, FormatName

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_ENERGY_TABLE = DATA_DIR / "energy_28nm.yaml"
DEFAULT_AREA_TABLE = DATA_DIR / "area_28nm.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class _Sourced(_Strict):
    """Every number carries where it comes from: a `source` or an `assumption` (at least one)."""

    source: Optional[str] = None
    assumption: Optional[str] = None

    @model_validator(mode="after")
    def _has_provenance(self):
        if not (self.source or self.assumption):
            raise ValueError("every number needs a 'source' or an 'assumption' string")
        return self


class _Scaled(_Sourced):
    node_nm: Optional[PositiveFloat]


class PjEntry(_Scaled):
    pj: NonNegativeFloat


class _Ranged(_Sourced):
    """An entry that may state the range its value is believed to lie in, with the reason.

    `range: [lo, hi]` (same unit and node as the value) needs `range_basis`, a sentence saying where the
    ends come from; the value must lie inside. Sensitivity studies sweep the entry over this range.
    """

    range: Optional[list[NonNegativeFloat]] = Field(None, min_length=2, max_length=2)
    range_basis: Optional[str] = None

    def _value(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    @model_validator(mode="after")
    def _range_holds_value(self):
        if self.range is None:
            if self.range_basis is not None:
                raise ValueError("range_basis without a range: [lo, hi]")
            return self
        lo, hi = self.range
        if not self.range_basis:
            raise ValueError("a range: [lo, hi] needs a range_basis saying where its ends come from")
        if not lo <= self._value() <= hi:
            raise ValueError(f"range [{lo:g}, {hi:g}] must hold the value {self._value():g}")
        return self


class UmEntry(_Scaled, _Ranged):
    um2: NonNegativeFloat

    def _value(self) -> float:
        return float(self.um2)


class MwEntry(_Scaled):
    mw: NonNegativeFloat


class ValueEntry(_Ranged):
    value: NonNegativeFloat

    def _value(self) -> float:
        return float(self.value)


class _Scaling(_Sourced):
    reference_node_nm: PositiveFloat
    energy_exponent: Optional[float] = None
    area_exponent: Optional[float] = None


class _MacEntry(_Strict):
    multiply: PjEntry
    accumulate: PjEntry
    scale: Optional[PjEntry] = None


class _SramPoint(_Sourced):
    capacity_bytes: PositiveInt
    pj: PositiveFloat
    node_nm: Optional[PositiveFloat]


class _Sram(_Strict):
    access_bits: ValueEntry
    points: list[_SramPoint]
    write_to_read_ratio: ValueEntry

    @model_validator(mode="after")
    def _sorted_points(self):
        caps = [p.capacity_bytes for p in self.points]
        if len(caps) < 2 or caps != sorted(set(caps)):
            raise ValueError("sram.points needs >= 2 points with strictly increasing capacity_bytes")
        if self.access_bits.value <= 0:
            raise ValueError("sram.access_bits must be > 0")
        return self


class _Detector(_Strict):
    zero_count_pj_per_element: PjEntry
    label_update_pj_per_channel: PjEntry


class _Static(_Strict):
    leakage_mw_per_mm2: MwEntry
    dram_background_mw_per_channel: MwEntry


class EnergyTableFile(_Strict):
    """Schema of an energy table file (see components/data/energy_28nm.yaml)."""

    node_nm: PositiveFloat
    scaling: _Scaling
    mac: dict[FormatName, _MacEntry]
    sram: _Sram
    dram_pj_per_bit: dict[str, PjEntry]
    dram_activation_pj: dict[str, PjEntry] = {}  # per row activation (row miss), by technology; absent = unpriced
    noc_hop_pj: PjEntry
    detector: _Detector
    vector_op_pj: PjEntry
    static: _Static

    @model_validator(mode="after")
    def _complete(self):
        missing = [f for f in FORMATS if f not in self.mac]
        if missing:
            raise ValueError(f"mac must price every format; missing: {', '.join(missing)}")
        if self.scaling.energy_exponent is None:
            raise ValueError("scaling.energy_exponent is required in an energy table")
        if not self.dram_pj_per_bit:
            raise ValueError("dram_pj_per_bit needs at least one DRAM technology")
        return self


class AreaTableFile(_Strict):
    """Schema of an area table file (see components/data/area_28nm.yaml)."""

    node_nm: PositiveFloat
    scaling: _Scaling
    multiply_um2: dict[str, UmEntry]
    accumulate_um2: dict[str, UmEntry]
    scale_um2_per_multiplier: dict[FormatName, UmEntry]
    noc_switch_um2_per_bit: UmEntry
    maeri_switch_ports_per_multiplier: ValueEntry
    sigma_fan_ports_per_multiplier: ValueEntry
    bitmap_logic_um2_per_multiplier: UmEntry
    sram_um2_per_kib: UmEntry
    register_um2_per_bit: UmEntry
    vector_lane_um2: UmEntry

    @model_validator(mode="after")
    def _complete(self):
        for name in ("multiply_um2", "accumulate_um2"):
            missing = [f for f in FAMILY_ELEMENT_BITS if f not in getattr(self, name)]
            if missing:
                raise ValueError(f"{name} must cover every multiplier family; missing: {', '.join(missing)}")
        if self.scaling.area_exponent is None:
            raise ValueError("scaling.area_exponent is required in an area table")
        return self


def _scale(value: float, node_nm: float | None, target_nm: float, exponent: float) -> float:
    """The stated node-scaling rule: value x (target / node) ** exponent; node None = process-independent."""
    if node_nm is None or node_nm == target_nm:
        return float(value)
    return float(value) * (target_nm / node_nm) ** exponent


@dataclass(frozen=True)
class EnergyTable:
    """Energy per event at `node_nm`, after scaling. All energies in pJ, powers in mW."""

    node_nm: float
    mac_pj: dict[str, float]
    sram_points: tuple[tuple[int, float], ...]  # (capacity_bytes, pJ per access_bits access)
    sram_access_bits: float
    sram_write_to_read_ratio: float
    dram_pj_per_bit: dict[str, float]
    noc_hop_pj: float
    zero_count_pj_per_element: float
    label_update_pj_per_channel: float
    vector_op_pj: float
    leakage_mw_per_mm2: float
    dram_background_mw_per_channel: float
    dram_activation_pj: dict[str, float] = field(default_factory=dict)  # per row activation, by technology
    source: str = field(default="<table>", compare=False)

    def sram_read_pj_per_byte(self, macro_bytes: float) -> float:
        """Read energy per byte of one SRAM macro of `macro_bytes`: log-log interpolation of the table's
        per-access points, extrapolated with the nearest segment's slope outside them."""
        if macro_bytes <= 0:
            raise ValueError(f"SRAM macro size must be > 0 bytes, got {macro_bytes}")
        pts = self.sram_points
        x = math.log(macro_bytes)
        i = 0
        while i < len(pts) - 2 and macro_bytes > pts[i + 1][0]:
            i += 1
        (c0, e0), (c1, e1) = pts[i], pts[i + 1]
        slope = (math.log(e1) - math.log(e0)) / (math.log(c1) - math.log(c0))
        pj_per_access = math.exp(math.log(e0) + slope * (x - math.log(c0)))
        return pj_per_access / (self.sram_access_bits / 8.0)

    def sram_write_pj_per_byte(self, macro_bytes: float) -> float:
        """Write energy per byte: the read energy x the table's write/read ratio."""
        return self.sram_read_pj_per_byte(macro_bytes) * self.sram_write_to_read_ratio


@dataclass(frozen=True)
class AreaTable:
    """Area inputs at `node_nm`, after scaling. Areas in um2 (the area model reports mm2)."""

    node_nm: float
    multiply_um2: dict[str, float]
    accumulate_um2: dict[str, float]
    scale_um2_per_multiplier: dict[str, float]
    noc_switch_um2_per_bit: float
    maeri_switch_ports_per_multiplier: float
    sigma_fan_ports_per_multiplier: float
    bitmap_logic_um2_per_multiplier: float
    sram_um2_per_kib: float
    register_um2_per_bit: float
    vector_lane_um2: float
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    """(lo, hi) of every entry that states a `range`, after the same node scaling as its value; keyed by
    the field name above, or "field.key" for an entry of a per-family table (e.g. "multiply_um2.fp16")."""
    source: str = field(default="<table>", compare=False)

    def value(self, name: str) -> float:
        """The value of entry `name` (a field name, or "field.key" inside a per-family table)."""
        head, _, key = name.partition(".")
        v = getattr(self, head)
        return float(v[key]) if key else float(v)

    def with_value(self, name: str, value: float) -> "AreaTable":
        """A copy with entry `name` (as in `value`) set to `value`: one point of a sensitivity sweep."""
        head, _, key = name.partition(".")
        if head not in _AREA_SWEEPABLE or (key and not isinstance(getattr(self, head), dict)):
            raise KeyError(f"{name!r} is not a numeric entry of the area table")
        new = {**getattr(self, head), key: float(value)} if key else float(value)
        return dataclasses.replace(self, **{head: new})


_AREA_SWEEPABLE = frozenset(
    {
        "multiply_um2",
        "accumulate_um2",
        "scale_um2_per_multiplier",
        "noc_switch_um2_per_bit",
        "maeri_switch_ports_per_multiplier",
        "sigma_fan_ports_per_multiplier",
        "bitmap_logic_um2_per_multiplier",
        "sram_um2_per_kib",
        "register_um2_per_bit",
        "vector_lane_um2",
    }
)


def energy_table_from_file_model(t: EnergyTableFile, source: str = "<table>") -> EnergyTable:
    """Apply the scaling rule to a validated energy table file."""
    n, k = t.node_nm, float(t.scaling.energy_exponent or 0.0)

    def s(e: PjEntry | MwEntry) -> float:
        return _scale(e.pj if isinstance(e, PjEntry) else e.mw, e.node_nm, n, k)

    mac = {fmt: s(m.multiply) + s(m.accumulate) + (s(m.scale) if m.scale else 0.0) for fmt, m in t.mac.items()}
    points = tuple((p.capacity_bytes, _scale(p.pj, p.node_nm, n, k)) for p in t.sram.points)
    return EnergyTable(
        node_nm=n,
        mac_pj=mac,
        sram_points=points,
        sram_access_bits=t.sram.access_bits.value,
        sram_write_to_read_ratio=t.sram.write_to_read_ratio.value,
        dram_pj_per_bit={name: s(e) for name, e in t.dram_pj_per_bit.items()},
        dram_activation_pj={name: s(e) for name, e in t.dram_activation_pj.items()},
        noc_hop_pj=s(t.noc_hop_pj),
        zero_count_pj_per_element=s(t.detector.zero_count_pj_per_element),
        label_update_pj_per_channel=s(t.detector.label_update_pj_per_channel),
        vector_op_pj=s(t.vector_op_pj),
        leakage_mw_per_mm2=s(t.static.leakage_mw_per_mm2),
        dram_background_mw_per_channel=s(t.static.dram_background_mw_per_channel),
        source=source,
    )


def area_table_from_file_model(t: AreaTableFile, source: str = "<table>") -> AreaTable:
    """Apply the scaling rule to a validated area table file."""
    n, k = t.node_nm, float(t.scaling.area_exponent or 0.0)

    def s(e: UmEntry) -> float:
        return _scale(e.um2, e.node_nm, n, k)

    def r(e: UmEntry | ValueEntry) -> tuple[float, float]:
        lo, hi = e.range or (0.0, 0.0)
        if isinstance(e, UmEntry):
            return _scale(lo, e.node_nm, n, k), _scale(hi, e.node_nm, n, k)
        return float(lo), float(hi)

    ranges: dict[str, tuple[float, float]] = {}
    for name in _AREA_SWEEPABLE:
        entry = getattr(t, name)
        items = entry.items() if isinstance(entry, dict) else [("", entry)]
        for key, e in items:
            if e.range is not None:
                ranges[f"{name}.{key}" if key else name] = r(e)

    return AreaTable(
        node_nm=n,
        multiply_um2={f: s(e) for f, e in t.multiply_um2.items()},
        accumulate_um2={f: s(e) for f, e in t.accumulate_um2.items()},
        scale_um2_per_multiplier={f: s(e) for f, e in t.scale_um2_per_multiplier.items()},
        noc_switch_um2_per_bit=s(t.noc_switch_um2_per_bit),
        maeri_switch_ports_per_multiplier=t.maeri_switch_ports_per_multiplier.value,
        sigma_fan_ports_per_multiplier=t.sigma_fan_ports_per_multiplier.value,
        bitmap_logic_um2_per_multiplier=s(t.bitmap_logic_um2_per_multiplier),
        sram_um2_per_kib=s(t.sram_um2_per_kib),
        register_um2_per_bit=s(t.register_um2_per_bit),
        vector_lane_um2=s(t.vector_lane_um2),
        ranges=dict(sorted(ranges.items())),
        source=source,
    )


@lru_cache(maxsize=32)
def _load_energy_cached(path: str) -> EnergyTable:
    data = read_yaml_mapping(path)
    return energy_table_from_file_model(validate_model(EnergyTableFile, data, path), path)


@lru_cache(maxsize=32)
def _load_area_cached(path: str) -> AreaTable:
    data = read_yaml_mapping(path)
    return area_table_from_file_model(validate_model(AreaTableFile, data, path), path)


def load_energy_table(path: str | Path = DEFAULT_ENERGY_TABLE) -> EnergyTable:
    """Load, validate and node-scale an energy table file (cached per resolved path). ConfigError on failure."""
    return _load_energy_cached(_resolved(path))


def load_area_table(path: str | Path = DEFAULT_AREA_TABLE) -> AreaTable:
    """Load, validate and node-scale an area table file (cached per resolved path). ConfigError on failure."""
    return _load_area_cached(_resolved(path))


def _resolved(path: str | Path) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, ValueError, RuntimeError) as exc:
        raise ConfigError(str(path), "<file>", f"bad path ({type(exc).__name__}: {exc})") from None


def find_table_file(name: str, config_dir: Path | None) -> Path:
    """Resolve a table file named in a config: absolute as is; else next to the config, else in data/."""
    p = Path(name)
    if p.is_absolute():
        return p
    if config_dir is not None and (config_dir / p).is_file():
        return config_dir / p
    return DATA_DIR / p
