"""The Report of one simulation run: totals, per-step and per-node cycles, utilization, bytes, energy, MACs.

Every number carries its unit in its name. ``to_dict()`` / ``to_json()`` give a JSON document;
``to_dataframe()`` gives one row per node (cycles summed over steps) for analysis with pandas.
The document holds only what the inputs determine, so identical inputs give byte-identical JSON: the
measured run time (``wall_seconds``, :data:`Report.NOT_IN_DOCUMENT`) stays on the object, out of the file.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from components import (DENSE_CLUSTER, DENSE_LOCAL_BUFFER, DETECTOR, DRAM, GLOBAL_BUFFER, SPARSE_CLUSTER,
                        SPARSE_LOCAL_BUFFER, VECTOR_UNIT, EnergyModel)
from components.energy import METADATA_BITS, NOC_HOPS

__all__ = ["Report", "REPORT_FORMAT_VERSION", "energy_by_level_operand", "LEVELS"]

REPORT_FORMAT_VERSION = 1

LEVELS = (DRAM, GLOBAL_BUFFER, DENSE_LOCAL_BUFFER, SPARSE_LOCAL_BUFFER, DENSE_CLUSTER, SPARSE_CLUSTER, VECTOR_UNIT,
          DETECTOR)


def energy_by_level_operand(model: EnergyModel, counters: Mapping[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    """Dynamic energy (pJ) by level and operand. Buffers: their ``read_bytes.<operand>`` /
    ``write_bytes.<operand>`` counters; DRAM: its energy split in proportion to the bytes moved per operand;
    arrays: ``compute`` (MACs) and ``noc`` (switch hops); the sparse array's bitmap reads go to its local
    buffer as ``bitmaps``; vector unit and detector: ``compute``."""
    out: dict[str, dict[str, float]] = {}

    def add(level: str, operand: str, pj: float) -> None:
        if pj:
            out.setdefault(level, {})[operand] = out.get(level, {}).get(operand, 0.0) + pj

    dram_pj = 0.0
    moved: dict[str, float] = {}
    for (comp, name), amount in counters.items():
        if comp == DRAM and name.startswith("operand_bytes_moved."):
            moved[name.split(".", 1)[1]] = moved.get(name.split(".", 1)[1], 0.0) + amount
            continue
        price = model.event_pj(comp, name)
        if price is None:
            continue
        pj = price * float(amount)
        if comp == DRAM:
            dram_pj += pj
        elif name.startswith(("read_bytes.", "write_bytes.")):
            add(comp, name.split(".", 1)[1], pj)
        elif name in ("read_bytes", "write_bytes"):
            add(comp, "unattributed", pj)
        elif name == METADATA_BITS:
            add(comp + ".local_buffer", "bitmaps", pj)
        elif name == NOC_HOPS:
            add(comp, "noc", pj)
        else:
            add(comp, "compute", pj)
    total_moved = sum(moved.values())
    for op, b in moved.items():
        add(DRAM, op, dram_pj * b / total_moved)
    if dram_pj and not total_moved:
        add(DRAM, "unattributed", dram_pj)
    return out


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
    node_array_utilization: np.ndarray | None = None  # [nodes, steps]: MACs / array MAC slots while computing (NaN: no MACs)
    energy_by_level_operand_pj: dict[str, dict[str, float]] = field(default_factory=dict)  # level -> operand -> pJ
    # cycles of the MAC nodes (convolutions, linears, matmuls) alone: the scope of a layer simulator that times
    # only those layers and runs the rest on the host (STONNE's PyTorch front end, the paper's tool)
    mac_layer_cycles: float = 0.0
    wall_seconds: float = 0.0
    events: int = 0  # SimPy events scheduled
    intervals: int = 0  # busy intervals recorded (replayed ones included)
    # with simulate(keep_intervals=True): every busy interval (cycles) by component, for traces; not in the
    # JSON document. {"start_cycles": array, "end_cycles": array, "component": array of names,
    # "step_end_cycles": list, "duty": [(start, end, {component: busy fraction})] of fast-forwarded spans}
    interval_data: dict | None = None

    @property
    def seconds(self) -> float:
        return self.total_cycles / (self.clock_ghz * 1e9)

    @property
    def energy_pj(self) -> float:
        return sum(self.energy_dynamic_pj.values()) + sum(self.energy_static_pj.values())

    def to_dataframe(self) -> "pd.DataFrame":
        """One row per node: cycles (all steps), analytical cycles, and the share of the run."""
        import pandas as pd  # only here: a simulation does not import pandas (start-up)
        df = pd.DataFrame({"node": self.node_ids, "cycles": self.node_cycles.sum(axis=1),
                           "analytical_cycles": self.analytical_node_cycles.sum(axis=1)})
        if self.node_executed_macs is not None:
            df["executed_macs"] = self.node_executed_macs.sum(axis=1)
            df["dram_moved_bytes"] = self.node_dram_moved_bytes.sum(axis=1)
        if self.node_array_utilization is not None:
            df["array_utilization"] = self.node_array_utilization[:, 0]  # the first step (dense at step 0)
        df["share"] = df.cycles / max(self.total_cycles, 1.0)
        return df

    def summary(self) -> dict:
        """The headline numbers."""
        return {"model": self.model, "hardware": self.hardware, "policy": self.policy, "steps": self.steps,
                "batch": self.batch, "profile_kind": self.profile_kind, "total_cycles": self.total_cycles,
                "seconds": self.seconds, "energy_pj": self.energy_pj,
                "analytical_total_cycles": float(self.analytical_node_cycles.sum())}

    NOT_IN_DOCUMENT = ("wall_seconds", "interval_data")  # measurements of the host, not results: differ between identical runs

    def to_dict(self) -> dict:
        """The report document (without :data:`NOT_IN_DOCUMENT`)."""
        d = asdict(self)
        for k in self.NOT_IN_DOCUMENT:
            d.pop(k, None)
        d["node_cycles"] = self.node_cycles.tolist()
        for k in ("analytical_node_cycles", "node_executed_macs", "node_dram_moved_bytes", "node_array_utilization"):
            v = getattr(self, k)
            d[k] = None if v is None else np.where(np.isnan(v), None, v).tolist()
        d.update({"format": "sqdm-report", "format_version": REPORT_FORMAT_VERSION, "seconds": self.seconds,
                  "energy_pj": self.energy_pj})
        return d

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            from components.fileio import atomic_write_text
            atomic_write_text(Path(path), text)
        return text
