"""Workloads: the model zoo, workload-graph extraction, workload files and sparsity profiles.

Typical use::

    from workloads import build_workload, synthetic_profile
    g = build_workload("ddpm-cifar10", activation="relu")
    prof = synthetic_profile(g, steps=20)  # defaults: workloads/data/synthetic_profile.yaml
    g = prof.attach(g)

The names below are imported on first use (PEP 562), and the modules that need torch (extraction, the
networks) import it only when a graph or a model is built: ``import workloads``, ``workloads.ZOO``,
``read_graph`` and the sparsity profiles do not load torch, so ``sqdm simulate`` on a cached graph
(:mod:`workloads.cache`) starts quickly. ``from workloads import X`` works for every name, as before.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ACTIVATIONS": ".activations", "swap_activation": ".activations",
    "build_workload": ".build",
    "ProfileMismatchError": ".errors", "UnsupportedOpError": ".errors", "WorkloadError": ".errors",
    "WorkloadFileError": ".errors",
    "GRAPH_FORMAT_VERSION": ".constants", "MAC_KINDS": ".constants",
    "extract_graph": ".extract", "op_table": ".extract",
    "read_graph": ".graphio", "write_graph": ".graphio",
    "PROFILE_FORMAT_VERSION": ".profile", "SYNTHETIC_DEFAULTS_FILE": ".profile", "SparsityProfile": ".profile",
    "eligible_nodes": ".profile", "fit_synthetic_profile": ".profile", "synthetic_profile": ".profile",
    "synthetic_profile_defaults": ".profile",
    "block_summary": ".summary",
    "TINY_DIGITS_SPEC": ".zoo", "ZOO": ".zoo", "ModelEntry": ".zoo", "build_model": ".zoo", "get_model": ".zoo",
    "list_models": ".zoo",
    "UNet": ".zoo.unet", "UNetSpec": ".zoo.spec",
}

__all__ = [
    "ACTIVATIONS", "swap_activation", "build_workload", "ProfileMismatchError", "UnsupportedOpError",
    "WorkloadError", "WorkloadFileError", "GRAPH_FORMAT_VERSION", "MAC_KINDS", "extract_graph", "op_table",
    "read_graph", "write_graph", "PROFILE_FORMAT_VERSION", "SparsityProfile", "eligible_nodes",
    "synthetic_profile", "synthetic_profile_defaults", "fit_synthetic_profile", "SYNTHETIC_DEFAULTS_FILE",
    "block_summary", "TINY_DIGITS_SPEC", "ZOO", "ModelEntry", "build_model", "get_model",
    "list_models", "UNet", "UNetSpec",
]


# submodules reachable as attributes after a bare ``import workloads``, as when this file imported them all
_SUBMODULES = ("activations", "build", "cache", "constants", "errors", "extract", "graphio", "profile",
               "profile_file", "schema", "summary", "zoo")


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if name in _SUBMODULES:
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'workloads' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
