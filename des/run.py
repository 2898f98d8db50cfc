"""A run described by data: which hardware, workload, policy, profile and steps — resolved to objects.

``RunSpec`` is what a scenario file or the CLI names; :func:`resolve_run` loads the hardware config,
builds or reads the workload graph, applies the precision policy (the machine's default when the graph
has none) and provides a sparsity profile (a file, or ``workloads.synthetic_profile`` with its own
defaults, ``workloads/data/synthetic_profile.yaml``, so a CLI run and the Python API give the same profile).
Run-level defaults (steps, activation) are in ``des/defaults.yaml``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import networkx as nx

from components import (ConfigError, HardwareConfig, list_shipped_configs, parse_hardware_config, read_yaml_mapping,
                        shipped_config_path)
from workloads import ZOO, SparsityProfile, build_workload, eligible_nodes, read_graph, synthetic_profile

from components.fileio import InputFileError, check_yaml_file, load_yaml_text, safe_load_yaml
from components.fileio.limits import MAX_YAML_FILE_BYTES
from workloads.profile_file import read_profile

from .checks import check_run_inputs
from .engine import SimulationError, simulate
from .report import Report

__all__ = ["RunSpec", "resolve_run", "run", "run_defaults", "load_hardware"]

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")


@lru_cache(maxsize=1)
def run_defaults() -> dict:
    """The run-level defaults (``des/defaults.yaml``: ``steps``, ``activation``), checked.

    Synthetic-profile defaults are not here: ``workloads.synthetic_profile`` reads its own data file.
    """
    d = safe_load_yaml(DEFAULTS_FILE.read_text())
    where = f"run defaults {DEFAULTS_FILE}"
    if not isinstance(d, dict):
        raise SimulationError(f"{where}: must be a mapping")
    steps = d.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise SimulationError(f"{where}: steps={steps!r} must be a positive integer")
    if not isinstance(d.get("activation"), str):
        raise SimulationError(f"{where}: activation={d.get('activation')!r} must be an activation name")
    return d


@dataclass(frozen=True)
class RunSpec:
    hw: str  # shipped config name or YAML path
    workload: str  # zoo model name or workload-file path
    policy: str | None = None  # policy name/path; None: keep the graph's, else the machine's default
    profile: str | None = None  # .npz path; None: synthetic default when needed
    steps: int | None = None
    batch: int = 1
    cfg: bool = False
    resolution: int | None = None
    activation: str | None = None
    synthetic_mean: float | None = None
    seed: int | None = None
    overrides: tuple[str, ...] = ()  # "section.field=value" edits of the hardware config (YAML values)
    use_cache: bool = True  # zoo models: read/write the prepared-graph cache (workloads.cache)


def apply_overrides(data: dict, overrides: tuple[str, ...], source: str) -> str:
    """Apply ``section.field=value`` edits (YAML values) to a hardware mapping in place; returns the source
    name with the edits appended (for messages). A malformed edit is a ConfigError naming it."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(source, "<override>", f"'{item}' is not of the form section.field=value")
        try:
            value = load_yaml_text(raw, "value")
        except InputFileError as e:
            raise ConfigError(source, key, f"override value {raw[:40]!r}: {str(e)[len('value: '):]}") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part, {}), dict):
                raise ConfigError(source, key, f"'{part}' is not a section")
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return source + " (with " + ", ".join(overrides) + ")" if overrides else source


def load_hardware(name_or_path: str, overrides: tuple[str, ...] = ()) -> HardwareConfig:
    """A shipped config by name, or a YAML file by path, with ``section.field=value`` overrides applied
    before validation (so a bad override is a ConfigError naming its field)."""
    if name_or_path in list_shipped_configs():
        path = shipped_config_path(name_or_path)
    elif Path(name_or_path).suffix:
        path = Path(name_or_path)
    else:
        raise SimulationError(f"hardware '{name_or_path}': not a shipped config "
                              f"({', '.join(list_shipped_configs())}) nor a YAML file")
    check_yaml_file(path, "hardware config", MAX_YAML_FILE_BYTES)  # size, regular file, depth, no aliases
    data = read_yaml_mapping(path)
    source = apply_overrides(data, overrides, str(path))
    try:
        config_dir = path.resolve().parent
    except OSError:
        config_dir = None
    return parse_hardware_config(data, source, config_dir)


def _workload(spec: RunSpec, policy: str | None = None) -> nx.DiGraph:
    """The graph of ``spec.workload``: a zoo model extracted and annotated with ``policy`` (when not None),
    through the prepared-graph cache (``workloads.cache``; a hit imports neither torch nor quant), or a
    workload file as it is."""
    if spec.workload in ZOO:
        from workloads.cache import prepared_graph
        activation = spec.activation or run_defaults()["activation"]

        def build() -> nx.DiGraph:
            g = build_workload(spec.workload, resolution=spec.resolution, batch=spec.batch, cfg=spec.cfg,
                               activation=activation)
            if policy is None:
                return g
            from quant.policy import apply_policy
            return apply_policy(g, policy)

        return prepared_graph(spec.workload, build, resolution=spec.resolution, activation=activation,
                              batch=spec.batch, cfg=spec.cfg, policy=policy, use_cache=spec.use_cache)
    p = Path(spec.workload)
    if p.suffix != ".json" and not p.exists():
        raise SimulationError(f"workload '{spec.workload}': not a zoo model ({', '.join(ZOO)}) nor a workload file")
    return read_graph(p)


def resolve_run(spec: RunSpec) -> tuple[nx.DiGraph, HardwareConfig, SparsityProfile | None, int]:
    """(annotated graph, hardware, profile or None, steps) for ``spec``."""
    hw = load_hardware(spec.hw, spec.overrides)
    zoo = spec.workload in ZOO  # a zoo graph carries no precision: it is built with its policy (and cached)
    g = None if zoo else _workload(spec)
    policy = spec.policy
    if policy is None and (g is None or "precision" not in g.graph):
        policy = hw.default_policy or None
        if policy is None:
            raise SimulationError(f"hardware '{hw.name}' names no default_policy and the workload has none: "
                                  "pass --policy")
    if g is None:
        g = _workload(spec, policy)
    elif policy is not None:
        from quant.policy import apply_policy
        g = apply_policy(g, policy)
    d = run_defaults()
    steps = spec.steps if spec.steps is not None else int(d["steps"])
    profile = None
    check_run_inputs(g, hw, steps)  # size within des/limits.py, graph and machine consistent
    if spec.profile is not None:
        profile = read_profile(spec.profile)
    elif hw.sparse_cluster is not None and eligible_nodes(g):
        # None = the generator's own default (workloads/data/synthetic_profile.yaml)
        profile = synthetic_profile(g, steps, mean=spec.synthetic_mean, seed=spec.seed)
    return g, hw, profile, steps


def run(spec: RunSpec, progress: bool | None = None, keep_intervals: bool = False, jobs: int = 1) -> Report:
    """Resolve and simulate ``spec`` (``keep_intervals``: keep every busy interval, for an event trace;
    ``jobs``: processes that share the steps, as :func:`des.simulate` says)."""
    g, hw, profile, steps = resolve_run(spec)
    return simulate(g, hw, steps=steps, profile=profile, progress=progress, keep_intervals=keep_intervals,
                    plan_cache=spec.use_cache, jobs=jobs)
