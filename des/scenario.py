"""Scenario files: a what-if study as data (YAML, format ``sqdm-scenario`` version 1, docs/scenarios.md).

A scenario names one base run (``run:``, the fields of :class:`des.run.RunSpec` plus the sampler), edits of
the base hardware by dotted path (``hardware:``) and a sweep (``sweep:``): blocks of ``grid``, ``zip`` or
seeded ``random`` values over any ``run.<field>`` or ``hardware.<section>.<field>`` path, combined as a
product. :meth:`Scenario.points` expands it into :class:`Point` s, each a resolved ``RunSpec`` (hardware
edits as ``section.field=value`` strings in ``RunSpec.overrides``) with the hash of its resolved
description (run fields, file contents, the validated hardware config after the edits).

Everything a user can get wrong (unknown field, wrong type, empty sweep, an unreadable file, a hardware
value the config schema refuses) is a :class:`ScenarioError` (a ``ValueError``: one line, exit status 2 on
the command line) raised by :func:`load_scenario` / :meth:`Scenario.points`, before any point runs.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator,
                      model_validator)

from components.fileio import InputFileError, load_yaml_text, read_input_text, validation_message
from components.fileio.limits import MAX_YAML_FILE_BYTES

from .limits import MAX_BATCH, MAX_RESOLUTION, MAX_SEED, MAX_STEPS

__all__ = ["ScenarioError", "Scenario", "RunFields", "Point", "load_scenario", "parse_scenario",
           "SCENARIO_FORMAT", "SCENARIO_FORMAT_VERSION", "MAX_SWEEP_POINTS", "SAMPLERS", "evaluations",
           "point_description_hash"]

SCENARIO_FORMAT = "sqdm-scenario"
SCENARIO_FORMAT_VERSION = 1
MAX_SWEEP_POINTS = 100_000
"""Points one scenario may expand to: the expansion and its per-point hardware check cost ~10 ms each in the
parent, so 100,000 points are ~15 minutes of checking alone; a grid larger than that is a typo."""

SAMPLERS = {"ddim": 1, "ddpm": 1, "euler": 1, "heun": 2}
"""Network evaluations per sampler step. Heun's second-order step evaluates the network twice, except on the
last step (EDM: 18 steps = 35 evaluations); the simulator runs one network evaluation per simulated step."""


class ScenarioError(ValueError):
    """A scenario file that cannot be run as written (one line naming the file and the fault)."""


def evaluations(sampler: str, steps: int) -> int:
    """Network evaluations of ``steps`` steps of ``sampler`` (see :data:`SAMPLERS`)."""
    per = SAMPLERS[sampler]
    return steps if per == 1 else per * steps - 1


_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class RunFields(BaseModel):
    """The base run of a scenario: :class:`des.run.RunSpec`'s fields, plus the sampler.

    Relative file paths (``hw``, ``workload``, ``policy``, ``profile``) are relative to the scenario file."""

    model_config = _STRICT

    hw: str = Field("sqdm", min_length=1, max_length=4096,
                    description="base hardware: a shipped config name or a YAML file")
    workload: str = Field(min_length=1, max_length=4096, description="zoo model name or workload file (.json)")
    policy: Optional[str] = Field(None, min_length=1, max_length=4096,
                                  description="precision policy name or YAML file; null: the machine's default_policy")
    profile: Optional[str] = Field(None, min_length=1, max_length=4096,
                                   description="sparsity profile (.npz); null: the synthetic default")
    sampler: Literal["ddim", "ddpm", "euler", "heun"] = Field(
        "ddim", description="sampler whose steps are simulated: heun evaluates the network 2 x steps - 1 times")
    steps: Optional[int] = Field(None, ge=1, le=MAX_STEPS, description="sampler steps; null: des/defaults.yaml")
    batch: int = Field(1, ge=1, le=MAX_BATCH, description="images per network evaluation")
    cfg: bool = Field(False, description="classifier-free guidance (doubles the batch)")
    resolution: Optional[int] = Field(None, ge=1, le=MAX_RESOLUTION, description="input side in pixels")
    activation: Optional[Literal["relu", "silu"]] = Field(None, description="zoo models: default relu")
    synthetic_mean: Optional[float] = Field(None, ge=0.0, le=1.0, description="mean zero fraction of the synthetic profile")
    seed: Optional[int] = Field(None, ge=0, le=MAX_SEED, description="seed of the synthetic profile; null: its default")


RUN_FIELDS = tuple(RunFields.model_fields)
_FILE_FIELDS = ("hw", "workload", "policy", "profile")

# -- sweep blocks ----------------------------------------------------------------------------------------
Value = Any  # a YAML scalar, list or mapping (hardware edits may set a whole section)


class _Uniform(BaseModel):
    model_config = _STRICT
    uniform: list[float] = Field(min_length=2, max_length=2, description="[low, high]")
    digits: Optional[int] = Field(None, ge=0, le=15, description="round each draw to this many decimals")


class _LogUniform(BaseModel):
    model_config = _STRICT
    log_uniform: list[float] = Field(min_length=2, max_length=2, description="[low, high], both > 0")
    digits: Optional[int] = Field(None, ge=0, le=15)

    @field_validator("log_uniform")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError("log_uniform bounds must be positive")
        return v


class _Integer(BaseModel):
    model_config = _STRICT
    integer: list[Annotated[int, Field(ge=-2**53, le=2**53)]] = Field(min_length=2, max_length=2,
                                                                       description="[low, high], both included")
    multiple_of: int = Field(1, ge=1, le=2**31)

    @model_validator(mode="after")
    def _has_values(self):
        lo, hi = -(-self.integer[0] // self.multiple_of), self.integer[1] // self.multiple_of
        if lo > hi:
            raise ValueError(f"no multiple of {self.multiple_of} in [{self.integer[0]}, {self.integer[1]}]: empty sweep")
        return self


class _Choice(BaseModel):
    model_config = _STRICT
    choice: list[Value] = Field(min_length=1, max_length=10_000)


def _distribution_kind(v: Any) -> Optional[str]:
    if isinstance(v, dict):
        kinds = [k for k in ("uniform", "log_uniform", "integer", "choice") if k in v]
        return kinds[0] if len(kinds) == 1 else None
    return None


Distribution = Annotated[Union[Annotated[_Uniform, Tag("uniform")], Annotated[_LogUniform, Tag("log_uniform")],
                               Annotated[_Integer, Tag("integer")], Annotated[_Choice, Tag("choice")]],
                         Discriminator(_distribution_kind, custom_error_type="distribution",
                                       custom_error_message="give exactly one of uniform: [lo, hi], log_uniform: "
                                                            "[lo, hi], integer: [lo, hi], choice: [values]")]


class _Random(BaseModel):
    model_config = _STRICT
    samples: int = Field(ge=1, le=MAX_SWEEP_POINTS, description="points drawn")
    seed: int = Field(ge=0, le=MAX_SEED, description="seed of the draws (numpy default_rng)")
    fields: dict[str, Distribution] = Field(min_length=1)


class SweepBlock(BaseModel):
    """One block of a sweep: exactly one of ``grid`` (every combination), ``zip`` (the i-th values of every
    field together; equal lengths) or ``random`` (``samples`` seeded draws)."""

    model_config = _STRICT
    grid: Optional[dict[str, list[Value]]] = None
    zip: Optional[dict[str, list[Value]]] = None
    random: Optional[_Random] = None

    @model_validator(mode="after")
    def _one_kind(self):
        given = [k for k in ("grid", "zip", "random") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a sweep block has exactly one of grid / zip / random, got "
                             + (", ".join(given) if given else "none"))
        return self

    @property
    def paths(self) -> list[str]:
        if self.random is not None:
            return list(self.random.fields)
        return list((self.grid if self.grid is not None else self.zip) or {})

    def size(self) -> int:
        if self.random is not None:
            return self.random.samples
        if self.grid is not None:
            return math.prod(len(v) for v in self.grid.values()) if self.grid else 0
        lengths = {len(v) for v in (self.zip or {}).values()}
        return lengths.pop() if len(lengths) == 1 else 0

    def rows(self) -> list[dict[str, Value]]:
        if self.grid is not None:
            keys = list(self.grid)
            return [dict(zip(keys, combo)) for combo in itertools.product(*(self.grid[k] for k in keys))]
        if self.zip is not None:
            keys = list(self.zip)
            return [dict(zip(keys, vals)) for vals in zip(*(self.zip[k] for k in keys))]
        return _draw(self.random)


def _draw(r: _Random) -> list[dict[str, Value]]:
    import numpy as np
    rng = np.random.default_rng(r.seed)
    out = []
    for _ in range(r.samples):
        row = {}
        for path, d in r.fields.items():
            if isinstance(d, _Uniform):
                v = float(rng.uniform(*d.uniform))
                row[path] = round(v, d.digits) if d.digits is not None else v
            elif isinstance(d, _LogUniform):
                v = float(math.exp(rng.uniform(math.log(d.log_uniform[0]), math.log(d.log_uniform[1]))))
                row[path] = round(v, d.digits) if d.digits is not None else v
            elif isinstance(d, _Integer):
                lo, hi = -(-d.integer[0] // d.multiple_of), d.integer[1] // d.multiple_of
                row[path] = int(rng.integers(lo, hi + 1)) * d.multiple_of
            else:
                row[path] = d.choice[int(rng.integers(len(d.choice)))]
        out.append(row)
    return out


class FigureSpec(BaseModel):
    """A figure of the study, drawn by ``sqdm plot`` from the results store (plots/sweep.py)."""

    model_config = _STRICT
    kind: Literal["curves", "heatmap", "pareto"]
    x: Optional[str] = Field(None, description="curves / heatmap: a swept field (or a metric) on the x axis; "
                                               "pareto: the first objective (default seconds)")
    y: Optional[str] = Field(None, description="curves: the metric; heatmap: a second swept field; pareto: the "
                                               "second objective (default energy_pj)")
    z: Optional[str] = Field(None, description="heatmap: the metric coloured; pareto: the third objective "
                                               "(default area_mm2)")
    hue: Optional[str] = Field(None, description="curves: one line per value of this swept field")
    baseline: Optional[dict[str, Value]] = Field(None, description="swept values of a reference point to mark")
    out: Optional[str] = Field(None, min_length=1, max_length=255, description="file name (default from the scenario name)")
    title: Optional[str] = Field(None, max_length=300)


class Scenario(BaseModel):
    """A scenario document (see the module docstring and docs/scenarios.md)."""

    model_config = _STRICT
    format: Literal["sqdm-scenario"]
    format_version: int
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.+-]+$",
                      description="the study's name: its key in the results store")
    description: str = Field("", max_length=10_000)
    run: RunFields
    hardware: dict[str, Value] = Field(default_factory=dict, description="edits of the base hardware, by dotted path")
    sweep: list[SweepBlock] = Field(default_factory=list, description="blocks combined as a product; none: one point")
    figures: list[FigureSpec] = Field(default_factory=list, description="figures `sqdm plot` draws by default")

    _source: str = "<scenario>"
    _base_dir: Optional[Path] = None

    @field_validator("format_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != SCENARIO_FORMAT_VERSION:
            raise ValueError(f"{v} is not supported (this sqdm reads version {SCENARIO_FORMAT_VERSION})")
        return v

    @field_validator("sweep", mode="before")
    @classmethod
    def _one_block(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @property
    def source(self) -> str:
        return self._source

    @property
    def base_dir(self) -> Optional[Path]:
        return self._base_dir

    def swept_paths(self) -> list[str]:
        """The swept fields, in the order the sweep names them."""
        return [p for b in self.sweep for p in b.paths]

    def size(self) -> int:
        """Number of points before duplicates are dropped."""
        return math.prod(b.size() for b in self.sweep) if self.sweep else 1

    def points(self) -> list["Point"]:
        """Every point, resolved and checked (hardware loaded per point); duplicates (same hash) dropped."""
        return _points(self)


# -- loading ---------------------------------------------------------------------------------------------
def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and validate scenario file ``path`` (size, YAML limits, schema, sweep paths and values);
    relative file names inside it are relative to its folder. Every failure is one ScenarioError."""
    where = f"scenario {os.fspath(path)}"
    try:
        text = read_input_text(path, "scenario", MAX_YAML_FILE_BYTES)
        data = load_yaml_text(text, where)
    except InputFileError as e:
        raise ScenarioError(str(e)) from None
    base = Path(os.fspath(path)).parent
    if isinstance(data, dict) and "name" not in data:
        data = {**data, "name": Path(os.fspath(path)).stem.split(".")[0] or "scenario"}
    return parse_scenario(data, where, base)


def parse_scenario(data: Any, source: str = "scenario", base_dir: str | os.PathLike | None = None) -> Scenario:
    """Validate a scenario mapping (see :func:`load_scenario`)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: must be a mapping (format: {SCENARIO_FORMAT}, format_version: "
                            f"{SCENARIO_FORMAT_VERSION}, run: ..., hardware: ..., sweep: ...), got {type(data).__name__}")
    if data.get("format") != SCENARIO_FORMAT:
        raise ScenarioError(f"{source}: format: must be '{SCENARIO_FORMAT}' (got {data.get('format')!r})")
    if "sweep" in data and not data["sweep"]:
        raise ScenarioError(f"{source}: sweep: empty sweep (no blocks); omit 'sweep' for a single point")
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(validation_message(source, e)) from None
    sc._source = source
    sc._base_dir = Path(base_dir) if base_dir is not None else None
    _check_sweep(sc)
    return sc


def _check_sweep(sc: Scenario) -> None:
    src = sc.source
    for key in sc.hardware:
        check_path("hardware." + key, src, "hardware")
    seen: dict[str, int] = {}
    for i, b in enumerate(sc.sweep):
        where = f"{src}: sweep[{i}]"
        kind = "grid" if b.grid is not None else "zip" if b.zip is not None else "random"
        if not b.paths:
            raise ScenarioError(f"{where}: {kind}: empty sweep (no fields); omit 'sweep' for a single point")
        values = b.grid if b.grid is not None else b.zip
        if values is not None:
            for p, v in values.items():
                if not v:
                    raise ScenarioError(f"{where}: {kind}: {p}: empty sweep (no values)")
            if b.zip is not None and len({len(v) for v in b.zip.values()}) != 1:
                raise ScenarioError(f"{where}: zip: fields have different lengths ("
                                    + ", ".join(f"{p}: {len(v)}" for p, v in b.zip.items()) + ")")
        for p in b.paths:
            check_path(p, f"{where}: {kind}", "sweep")
            if p in seen:
                raise ScenarioError(f"{where}: {kind}: {p} is already swept by sweep[{seen[p]}]")
            seen[p] = i
            for v in _block_values(b, p):
                _check_run_value(sc, p, v, f"{where}: {kind}: {p}")
    n = sc.size()
    if n > MAX_SWEEP_POINTS:
        raise ScenarioError(f"{src}: sweep: {n:,} points, more than the {MAX_SWEEP_POINTS:,} a scenario may have "
                            "(des/scenario.py MAX_SWEEP_POINTS)")


def _block_values(b: SweepBlock, p: str) -> list[Value]:
    if b.grid is not None:
        return b.grid[p]
    if b.zip is not None:
        return b.zip[p]
    d = b.random.fields[p]
    return d.choice if isinstance(d, _Choice) else []


def _check_run_value(sc: Scenario, path: str, value: Value, where: str) -> None:
    if not path.startswith("run."):
        return
    name = path[len("run."):]
    try:
        RunFields.model_validate({**sc.run.model_dump(), name: value})
    except ValidationError as e:
        raise ScenarioError(validation_message(where, e).replace(f"{where}: {name}: ", f"{where}: ", 1)) from None


def check_path(path: str, where: str, what: str = "sweep") -> None:
    """Refuse a sweep path that names no field: ``run.<RunSpec field>`` or ``hardware.<section>.<field>``
    (checked against the hardware config schema; keys inside mappings such as ``rates`` are free)."""
    parts = path.split(".")
    if parts[0] == "run" and len(parts) == 2:
        if parts[1] not in RUN_FIELDS:
            raise ScenarioError(f"{where}: {path}: unknown run field '{parts[1]}' (fields: {', '.join(RUN_FIELDS)})")
        return
    if parts[0] != "hardware" or len(parts) < 2 or not all(parts):
        raise ScenarioError(f"{where}: {path}: not a field path; use run.<field> ({', '.join(RUN_FIELDS)}) or "
                            "hardware.<section>.<field> (e.g. hardware.dram.bandwidth_gbytes_per_s)")
    from components.config import HardwareConfig
    model: Any = HardwareConfig
    for i, part in enumerate(parts[1:], start=1):
        if model is None:
            return  # inside a mapping (rates, ops_per_element, ...): keys are checked when the config loads
        fields = model.model_fields
        if part not in fields:
            section = ".".join(parts[1:i]) or "the hardware config"
            raise ScenarioError(f"{where}: {path}: unknown hardware field '{part}' of {section} "
                                f"(fields: {', '.join(fields)})")
        sub = _submodel(fields[part].annotation)
        if sub is False and i < len(parts) - 1:
            raise ScenarioError(f"{where}: {path}: '{'.'.join(parts[1:i + 1])}' is a value, not a section")
        model = sub if sub is not False else None


def _submodel(annotation: Any) -> Any:
    """The pydantic model of a field (Optional / Annotated unwrapped); None for a mapping; False for a value."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _submodel(typing.get_args(annotation)[0])
    if origin in (Union, getattr(__import__("types"), "UnionType", Union)):
        subs = [_submodel(a) for a in typing.get_args(annotation) if a is not type(None)]
        models = [s for s in subs if s not in (None, False)]
        if models:
            return models[0]
        return None if None in subs else False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if origin in (dict, typing.Mapping) or annotation in (dict, Any):
        return None
    return False


# -- points ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    """One resolved point of a scenario: what a worker needs to run it, and what the store keeps."""

    scenario: str
    index: int  # position in the sweep (after duplicates are dropped)
    params: dict[str, Value]  # the swept fields: path -> value
    spec: Any  # des.run.RunSpec (steps = network evaluations; hardware edits in overrides)
    sampler: str
    sampler_steps: int
    hash: str  # sha256 of `config` (canonical JSON)
    config: dict = field(repr=False, default_factory=dict)  # the resolved description
    # the validated hardware config (model_dump, `sizing` dropped: its count is in the data) and the folder its
    # relative table files are read from: a worker validates this instead of re-reading and re-sizing the YAML
    hardware_data: Optional[dict] = field(repr=False, default=None)
    hardware_dir: Optional[str] = field(repr=False, default=None)

    @property
    def seed(self) -> Optional[int]:
        return self.spec.seed

    def label(self) -> str:
        return ", ".join(f"{k}={_short(v)}" for k, v in self.params.items()) or "base"


def _short(v: Value) -> str:
    text = json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
    return text if len(text) <= 40 else text[:37] + "..."


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def point_description_hash(description: dict) -> str:
    """sha256 (hex) of a point description's canonical JSON."""
    return hashlib.sha256(_canonical(description).encode()).hexdigest()


@lru_cache(maxsize=256)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _digest(path: Path) -> str:
    st = os.stat(path)
    return _file_digest(str(path), st.st_mtime_ns, st.st_size)


def _resolve_file(value: Optional[str], base: Optional[Path]) -> Optional[str]:
    if value is None or base is None or os.path.isabs(value):
        return value
    return str(base / value)


def _resolved_run(sc: Scenario, run: RunFields) -> tuple[dict, dict]:
    """(RunSpec keyword arguments, hash description of the run) for ``run``; files checked and digested."""
    from components import list_shipped_configs
    from components.fileio.limits import MAX_PROFILE_FILE_BYTES, MAX_WORKLOAD_FILE_BYTES
    from components.fileio import check_input_file
    from workloads import ZOO
    src = sc.source
    kw = run.model_dump()
    desc = dict(kw)
    base = sc.base_dir
    if run.hw not in list_shipped_configs():
        if not Path(run.hw).suffix:
            raise ScenarioError(f"{src}: run.hw: '{run.hw}' is not a shipped config ({', '.join(list_shipped_configs())}) "
                                "nor a YAML file")
        kw["hw"] = _resolve_file(run.hw, base)
        desc["hw"] = {"file": Path(run.hw).name}  # its content is in the resolved hardware of the description
    if run.workload not in ZOO:
        p = _resolve_file(run.workload, base)
        _checked(lambda: check_input_file(p, "workload file", MAX_WORKLOAD_FILE_BYTES), src, "run.workload",
                 f"not a zoo model ({', '.join(ZOO)}) nor a readable workload file")
        kw["workload"] = p
        desc["workload"] = {"file": Path(run.workload).name, "sha256": _digest(Path(p))}
    if run.profile is not None:
        p = _resolve_file(run.profile, base)
        _checked(lambda: check_input_file(p, "profile", MAX_PROFILE_FILE_BYTES), src, "run.profile", "")
        kw["profile"] = p
        desc["profile"] = {"file": Path(run.profile).name, "sha256": _digest(Path(p))}
    if run.policy is not None:
        if run.policy not in builtin_policies():
            p = _resolve_file(run.policy, base)
            _checked(lambda: check_input_file(p, "policy file", MAX_YAML_FILE_BYTES), src, "run.policy",
                     f"not a built-in policy ({', '.join(builtin_policies())}) nor a readable file")
            kw["policy"] = p
            desc["policy"] = {"file": Path(run.policy).name, "sha256": _digest(Path(p))}
    return kw, desc


def builtin_policies() -> list[str]:
    """Names of quant/policies/*.yaml, found without importing ``quant`` (which imports torch: a sweep's
    parent stays free of it, so its workers can be forked)."""
    import importlib.util
    spec = importlib.util.find_spec("quant")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    return sorted(p.stem for r in roots for p in (Path(r) / "policies").glob("*.yaml"))


def _checked(fn, src: str, field_: str, hint: str) -> None:
    try:
        fn()
    except InputFileError as e:
        raise ScenarioError(f"{src}: {field_}: {e}" + (f" ({hint})" if hint else "")) from None


def _yaml_value(v: Value) -> str:
    """A value as the YAML text of a ``section.field=value`` override (JSON is YAML)."""
    return json.dumps(v, allow_nan=False)


@lru_cache(maxsize=32)
def _base_mapping(path: str, mtime_ns: int, size: int) -> dict:
    from components import read_yaml_mapping
    return read_yaml_mapping(path)


def _load_hardware(hw: str, overrides: tuple[str, ...], load_hardware):
    """``des.run.load_hardware(hw, overrides)``, reading and checking the base file once per sweep rather than
    once per point: the first call per file goes through ``load_hardware`` (file checks, its messages), later
    ones apply the same ``section.field=value`` edits to a copy of the cached mapping (tests compare both)."""
    import copy

    from components import list_shipped_configs, parse_hardware_config, shipped_config_path

    from .run import apply_overrides
    path = shipped_config_path(hw) if hw in list_shipped_configs() else Path(hw)
    try:
        st = os.stat(path)
    except OSError:
        return load_hardware(hw, overrides)
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _LOADED:
        cfg = load_hardware(hw, overrides)
        _LOADED.add(key)
        return cfg
    data = copy.deepcopy(_base_mapping(*key))
    source = apply_overrides(data, overrides, str(path))
    return parse_hardware_config(data, source, Path(path).resolve().parent)


_LOADED: set = set()


def _config_dir(hw: str) -> Optional[str]:
    from components import list_shipped_configs, shipped_config_path
    path = shipped_config_path(hw) if hw in list_shipped_configs() else Path(hw)
    try:
        return str(Path(path).resolve().parent)
    except OSError:
        return None


def _points(sc: Scenario) -> list[Point]:
    from .run import RunSpec, load_hardware, run_defaults
    src = sc.source
    rows: list[dict[str, Value]] = [{}]
    for b in sc.sweep:
        block_rows = b.rows()
        rows = [{**r, **br} for r in rows for br in block_rows]
    if not rows:
        raise ScenarioError(f"{src}: sweep: empty sweep (no points)")
    points: list[Point] = []
    seen: set[str] = set()
    hw_cache: dict[tuple, dict] = {}
    run_cache: dict[str, tuple[dict, dict]] = {}
    for row in rows:
        label = ", ".join(f"{k}={_short(v)}" for k, v in row.items())
        where = f"{src}: point {len(points)} ({label})" if row else src
        run_values = {k[len("run."):]: v for k, v in row.items() if k.startswith("run.")}
        try:
            run = RunFields.model_validate({**sc.run.model_dump(), **run_values})
        except ValidationError as e:
            raise ScenarioError(validation_message(where, e)) from None
        key = _canonical(run.model_dump())
        if key not in run_cache:
            run_cache[key] = _resolved_run(sc, run)
        kw, run_desc = run_cache[key]
        edits = dict(sc.hardware)
        edits.update({k[len("hardware."):]: v for k, v in row.items() if k.startswith("hardware.")})
        try:
            overrides = tuple(f"{k}={_yaml_value(v)}" for k, v in edits.items())
        except ValueError as e:
            raise ScenarioError(f"{where}: hardware: {e}") from None
        hkey = (kw["hw"], overrides)
        if hkey not in hw_cache:
            try:
                hw = _load_hardware(kw["hw"], overrides, load_hardware)
            except ValueError as e:  # ConfigError, InputFileError, SimulationError: one line each
                raise ScenarioError(f"{where}: {e}") from None
            data = hw.model_dump()
            data.pop("sizing", None)
            hw_cache[hkey] = (hw.model_dump(mode="json"), data, _config_dir(kw["hw"]))
        steps = run.steps if run.steps is not None else int(run_defaults()["steps"])
        evals = evaluations(run.sampler, steps)
        spec_kw = {k: v for k, v in kw.items() if k != "sampler"}
        spec_kw["steps"] = evals
        spec = RunSpec(**spec_kw, overrides=overrides)
        hw_json, hw_data, hw_dir = hw_cache[hkey]
        desc = {"run": {**run_desc, "evaluations": evals}, "hardware": hw_json}
        h = point_description_hash(desc)
        if h in seen:
            continue
        seen.add(h)
        config = {"run": run.model_dump(), "evaluations": evals, "overrides": list(overrides),
                  "hardware": hw_json, "params": row}
        points.append(Point(scenario=sc.name, index=len(points), params=dict(row), spec=spec, sampler=run.sampler,
                            sampler_steps=steps, hash=h, config=config, hardware_data=hw_data, hardware_dir=hw_dir))
    return points
