"""Checks of a resolved run before it is simulated: its size (:mod:`des.limits`) and the consistency of
the workload graph with the machine, so that a mismatch is one line naming the field, never an error deep
inside the engine.

Consistency checked here:

* every vector-unit op the graph needs (each unfused non-MAC node's op, mapped by
  ``des.mapping.VECTOR_KIND_OF``; ``add`` for the partial-sum merge when the machine has both clusters)
  has an entry in ``vector_unit.ops_per_element`` of the hardware config;
* with the ``interleaved`` address mapping, a DRAM burst holds at least one element of every tensor the
  run moves (the access model fetches each selected channel of a pixel within whole bursts; a 1-byte burst
  under 2-byte FP16 elements has no meaning there, and the fuzz suite found it ending in a traceback);
* the machine's numbers are within the range where cycle counts stay exact (float64 holds integers up to
  2**53): every throughput (``*per_cycle*``, ``*bandwidth*``, ``*_bw_*``, ``rates.*``, ``lanes``,
  ``multipliers``, ``clock_ghz``, and the DRAM bytes per cycle they give) at least :data:`MIN_THROUGHPUT`,
  every ``*_cycles`` latency at most :data:`MAX_LATENCY_CYCLES`, every number at most :data:`MAX_NUMBER`. The
  hardware schema only asks for positive, finite numbers; the fuzz suite found ``bytes_per_cycle_per_port:
  1e-38`` ending in a traceback deep in the engine.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

import networkx as nx

from components import HardwareConfig

from .limits import check_run_size
from .mapping import VECTOR_KIND_OF
from .precision import VECTOR_BITS, tensor_bits
from .residency import MAC_KINDS, plan_residency

__all__ = ["RunInputError", "check_run_inputs", "check_hardware_ranges", "required_vector_kinds", "MIN_THROUGHPUT",
           "MAX_LATENCY_CYCLES", "MAX_NUMBER"]

MIN_THROUGHPUT = 1e-3
"""Per cycle (bytes, elements, MACs, ops) or GHz / GB/s: 1,000x below any machine worth simulating; slower,
the largest zoo runs would count more than 2**53 cycles."""
MAX_LATENCY_CYCLES = 1e9
"""A latency of a second at 1 GHz per access."""
MAX_NUMBER = 1e12
"""Any number of a hardware config (capacities of 1 TB, a thousand-fold the largest shipped value, still pass)."""
_THROUGHPUT = re.compile(r"(per_cycle|bandwidth|_bw_|(^|\.)rates\.|(^|\.)lanes$|multipliers$|(^|\.)clock_ghz$)")


class RunInputError(ValueError):
    """The graph and the machine of a run do not fit each other."""


def required_vector_kinds(g: nx.DiGraph, hw: HardwareConfig) -> dict[str, str]:
    """``vector_unit.ops_per_element`` key -> the first node (or ``merge``) that needs it."""
    fused = plan_residency(g, hw).fused
    need: dict[str, str] = {}
    for n, d in sorted(g.nodes(data=True), key=lambda nd: nd[1].get("order", 0)):
        if d.get("kind") in MAC_KINDS or n in fused:
            continue
        need.setdefault(VECTOR_KIND_OF.get(d.get("op", ""), "copy"), f"node '{n}'")
    if hw.dense_cluster is not None and hw.sparse_cluster is not None and any(
            d.get("sparse_eligible") for _, d in g.nodes(data=True)):
        need.setdefault("add", "the merge of dense and sparse partial sums")
    return need


def _leaves(x: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, x


def check_hardware_ranges(hw: HardwareConfig) -> None:
    """Raise :class:`RunInputError` naming the first field outside the ranges of the module docstring."""
    for path, v in _leaves(hw.model_dump()):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if abs(v) > MAX_NUMBER:
            raise RunInputError(f"hardware '{hw.name}': {path} = {v:g} is above {MAX_NUMBER:g} (des/checks.py)")
        if _THROUGHPUT.search(path) and v < MIN_THROUGHPUT:
            raise RunInputError(f"hardware '{hw.name}': {path} = {v:g} is below {MIN_THROUGHPUT:g} "
                                "(des/checks.py: cycle counts would lose exactness)")
        if path.endswith("_cycles") and v > MAX_LATENCY_CYCLES:
            raise RunInputError(f"hardware '{hw.name}': {path} = {v:g} is above {MAX_LATENCY_CYCLES:g} cycles")
    per_cycle = hw.dram.bytes_per_cycle(hw.clock_ghz)
    if per_cycle < MIN_THROUGHPUT:
        raise RunInputError(f"hardware '{hw.name}': DRAM moves {per_cycle:g} bytes per cycle "
                            f"(dram.bandwidth_gbytes_per_s / clock_ghz), below {MIN_THROUGHPUT:g}")


def check_run_inputs(g: nx.DiGraph, hw: HardwareConfig, steps: int) -> None:
    """Raise a one-line ValueError if the run is too large or the graph needs what the machine lacks."""
    check_hardware_ranges(hw)
    check_run_size(g, hw, steps)
    have = hw.vector_unit.ops_per_element
    for kind, who in required_vector_kinds(g, hw).items():
        if kind not in have:
            raise RunInputError(f"hardware '{hw.name}': vector_unit.ops_per_element has no entry '{kind}' "
                                f"(needed by {who}; it has: {', '.join(sorted(have)) or 'none'})")
    if hw.dram.address_mapping == "interleaved":
        widest = max([VECTOR_BITS] + [max(tensor_bits(d, "act"), tensor_bits(d, "weight"))
                                      for _, d in g.nodes(data=True) if d.get("kind") in MAC_KINDS]) / 8
        if hw.dram.burst_bytes < widest:
            raise RunInputError(f"hardware '{hw.name}': dram.burst_bytes {hw.dram.burst_bytes} is smaller than one "
                                f"{widest:g}-byte element; the interleaved address mapping needs whole elements "
                                "per burst")
