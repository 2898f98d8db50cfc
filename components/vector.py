"""Vector unit: norms, softmax, activations and elementwise ops, costed in element operations.

cycles = ceil(elements x ops_per_element[kind] / (lanes x ops_per_lane_per_cycle)); the per-kind
op counts are assumptions stated in the config (`vector_unit.ops_per_element`).
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from .config import VECTOR_UNIT, VectorUnitConfig
from .energy import VECTOR_OPS
from .resource import BusyUnit
from .stats import ActivityRecorder


def vector_ops(elements: float, kind: str, cfg: VectorUnitConfig) -> float:
    """Element operations for `elements` elements of op `kind`; ValueError if the kind is unknown."""
    if elements < 0:
        raise ValueError(f"elements must be >= 0, got {elements}")
    try:
        per = cfg.ops_per_element[kind]
    except KeyError:
        raise ValueError(f"vector op kind {kind!r} not in vector_unit.ops_per_element ({', '.join(cfg.ops_per_element)})") from None
    return elements * per


def vector_cycles(ops: float, cfg: VectorUnitConfig) -> int:
    """Cycles for `ops` element operations: ceil(ops / (lanes x ops_per_lane_per_cycle))."""
    if ops < 0:
        raise ValueError(f"ops must be >= 0, got {ops}")
    return math.ceil(ops / (cfg.lanes * cfg.ops_per_lane_per_cycle)) if ops else 0


class VectorUnit(BusyUnit):
    """SIMD vector unit, one operation at a time; records intervals and element ops."""

    def __init__(self, env: simpy.Environment, cfg: VectorUnitConfig, stats: ActivityRecorder | None = None,
                 name: str = VECTOR_UNIT):
        super().__init__(env, cfg, stats, name)

    def cycles(self, elements: float, kind: str) -> int:
        """Pure cost of `elements` elements of op `kind`."""
        return vector_cycles(vector_ops(elements, kind, self.cfg), self.cfg)

    def compute(self, elements: float, kind: str, tag: str = "") -> Generator[simpy.events.Event, object, int]:
        """Process body: run op `kind` over `elements` elements; returns the cycles."""
        cycles, counters = self.job(elements, kind)
        return self._busy(cycles, kind, tag, counters)

    def job(self, elements: float, kind: str) -> tuple[int, dict[str, float]]:
        """(cycles, counters) of op `kind` over `elements` elements."""
        ops = vector_ops(elements, kind, self.cfg)
        return vector_cycles(ops, self.cfg), {VECTOR_OPS: ops, "elements": elements}
