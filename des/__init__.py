"""The simulation engine: residency and mapping, the SimPy machine, the analytical reference, reports, CLI.

Typical use::

    from components import load_shipped_config
    from workloads import build_workload, synthetic_profile
    from quant.policy import apply_policy
    from des import simulate

    g = apply_policy(build_workload("ddpm-cifar10", activation="relu"), "sqdm")
    report = simulate(g, load_shipped_config("sqdm"), steps=10, profile=synthetic_profile(g, 10))

The names below are imported on first use (PEP 562), so ``import des.cli`` stays light: the ``sqdm``
command starts without importing torch and can answer Ctrl-C during its own imports with one line.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "analytical_node_cycles": (".analytical", "node_cycles"),
    "SimulationError": (".engine", "SimulationError"), "simulate": (".engine", "simulate"),
    "NodePlan": (".mapping", "NodePlan"), "plan_graph": (".mapping", "plan_graph"),
    "PrecisionError": (".precision", "PrecisionError"), "hw_format": (".precision", "hw_format"),
    "mac_format": (".precision", "mac_format"), "Report": (".report", "Report"),
    "Residency": (".residency", "Residency"), "plan_residency": (".residency", "plan_residency"),
    "StepWork": (".work", "StepWork"), "TileWork": (".work", "TileWork"), "tile_works": (".work", "tile_works"),
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        value = getattr(importlib.import_module(module, __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'des' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
