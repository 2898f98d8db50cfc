"""The simulation engine: residency and mapping, the SimPy machine, the analytical reference, reports, CLI.

Typical use::

    from components import load_shipped_config
    from workloads import build_workload, synthetic_profile
    from quant.policy import apply_policy
    from des import simulate

    g = apply_policy(build_workload("ddpm-cifar10", activation="relu"), "sqdm")
    report = simulate(g, load_shipped_config("sqdm"), steps=10, profile=synthetic_profile(g, 10))
"""
from .analytical import node_cycles as analytical_node_cycles
from .engine import SimulationError, simulate
from .mapping import NodePlan, plan_graph
from .precision import PrecisionError, hw_format, mac_format
from .report import Report
from .residency import Residency, plan_residency
from .work import StepWork, TileWork, tile_works

__all__ = ["analytical_node_cycles", "SimulationError", "simulate", "NodePlan", "plan_graph", "PrecisionError",
           "hw_format", "mac_format", "Report", "Residency", "plan_residency", "StepWork", "TileWork", "tile_works"]
