"""The Report of one simulation run: totals, per-step and per-node cycles, utilization, bytes, energy, MACs.

Every number carries its unit in its name. ``to_dict()`` / ``to_json()`` give a JSON document;
``to_dataframe()`` gives one row per node (cycles summed over steps) for analysis with pandas.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Report", "REPORT_FORMAT_VERSION"]

REPORT_FORMAT_VERSION = 1


@dataclass
class Report:
    """Results of one run (see the module docstring)."""

    model: str
    hardware: str
    policy: str
    steps: int
    batch: int
    profile_kind: str
    clock_ghz: float
    total_cycles: float
    cycles_per_step: list[float]
    node_ids: list[str]
    node_cycles: np.ndarray  # [nodes, steps]
    analytical_node_cycles: np.ndarray  # [nodes, steps], the closed-form reference
    busy_cycles: dict[str, float]
    utilization: dict[str, float]
    timeline_bin_cycles: float
    utilization_timeline: dict[str, list[float]]
    bytes: dict[str, float]
    energy_dynamic_pj: dict[str, float]
    energy_static_pj: dict[str, float]
    macs: dict[str, float]
    detector: dict[str, float]
    area_mm2: dict[str, float]
    counters: dict[str, float] = field(default_factory=dict)
    node_executed_macs: np.ndarray | None = None  # [nodes, steps]
    node_dram_moved_bytes: np.ndarray | None = None  # [nodes, steps]
    wall_seconds: float = 0.0
    events: int = 0  # SimPy events scheduled
    intervals: int = 0  # busy intervals recorded (replayed ones included)

    @property
    def seconds(self) -> float:
        return self.total_cycles / (self.clock_ghz * 1e9)

    @property
    def energy_pj(self) -> float:
        return sum(self.energy_dynamic_pj.values()) + sum(self.energy_static_pj.values())

    def to_dataframe(self) -> pd.DataFrame:
        """One row per node: cycles (all steps), analytical cycles, and the share of the run."""
        df = pd.DataFrame({"node": self.node_ids, "cycles": self.node_cycles.sum(axis=1),
                           "analytical_cycles": self.analytical_node_cycles.sum(axis=1)})
        if self.node_executed_macs is not None:
            df["executed_macs"] = self.node_executed_macs.sum(axis=1)
            df["dram_moved_bytes"] = self.node_dram_moved_bytes.sum(axis=1)
        df["share"] = df.cycles / max(self.total_cycles, 1.0)
        return df

    def summary(self) -> dict:
        """The headline numbers."""
        return {"model": self.model, "hardware": self.hardware, "policy": self.policy, "steps": self.steps,
                "batch": self.batch, "profile_kind": self.profile_kind, "total_cycles": self.total_cycles,
                "seconds": self.seconds, "energy_pj": self.energy_pj,
                "analytical_total_cycles": float(self.analytical_node_cycles.sum())}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["node_cycles"] = self.node_cycles.tolist()
        for k in ("analytical_node_cycles", "node_executed_macs", "node_dram_moved_bytes"):
            v = getattr(self, k)
            d[k] = None if v is None else v.tolist()
        d.update({"format": "sqdm-report", "format_version": REPORT_FORMAT_VERSION, "seconds": self.seconds,
                  "energy_pj": self.energy_pj})
        return d

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(p)
        return text
