"""Workloads: the model zoo, workload-graph extraction, workload files and sparsity profiles.

Typical use::

    from workloads import build_workload, synthetic_profile
    g = build_workload("ddpm-cifar10", activation="relu")
    prof = synthetic_profile(g, steps=20)  # defaults: workloads/data/synthetic_profile.yaml
    g = prof.attach(g)
"""
from .activations import ACTIVATIONS, swap_activation
from .build import build_workload
from .errors import ProfileMismatchError, UnsupportedOpError, WorkloadError, WorkloadFileError
from .extract import GRAPH_FORMAT_VERSION, MAC_KINDS, extract_graph, op_table
from .graphio import read_graph, write_graph
from .profile import (PROFILE_FORMAT_VERSION, SYNTHETIC_DEFAULTS_FILE, SparsityProfile, eligible_nodes,
                      fit_synthetic_profile, synthetic_profile, synthetic_profile_defaults)
from .summary import block_summary
from .zoo import TINY_DIGITS_SPEC, ZOO, ModelEntry, build_model, get_model, list_models
from .zoo.unet import UNet, UNetSpec

__all__ = [
    "ACTIVATIONS", "swap_activation", "build_workload", "ProfileMismatchError", "UnsupportedOpError",
    "WorkloadError", "WorkloadFileError", "GRAPH_FORMAT_VERSION", "MAC_KINDS", "extract_graph", "op_table",
    "read_graph", "write_graph", "PROFILE_FORMAT_VERSION", "SparsityProfile", "eligible_nodes",
    "synthetic_profile", "synthetic_profile_defaults", "fit_synthetic_profile", "SYNTHETIC_DEFAULTS_FILE",
    "block_summary", "TINY_DIGITS_SPEC", "ZOO", "ModelEntry", "build_model", "get_model",
    "list_models", "UNet", "UNetSpec",
]
