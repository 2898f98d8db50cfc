"""The analytical model: a closed form per node, the independent reference the DES is checked against.

For a node of tiles 0..n-1 with DRAM load time L_i, compute time C_i (the slower of the two clusters and
the vector unit, plus the partial-sum merge) and write-back time W_i, all from the same pure cost
functions the components use::

    cycles = max( L_0 + sum_i C_i + W_{n-1},        compute-bound: first load and last write exposed
                  sum_i L_i + C_{n-1} + W_{n-1},    load-bound: the last tile computes after all loads
                  L_0 + C_0 + sum_i W_i,            write-bound: writes start after the first compute
                  sum_i L_i + sum_i W_i )           DRAM-bound: loads and writes share one interface

the classic lower bounds of a three-stage flow shop (load, compute, write) whose first and last stage
share DRAM; a double-buffered pipeline reaches the largest of them. It ignores contention details the DES resolves (buffer
back-pressure, FIFO order of the two clusters' loads), which is what makes it a useful cross-check.
"""
from __future__ import annotations

from components import (HardwareConfig, dense_compute_cycles, dram_access_cost, sparse_compute_cycles, vector_cycles,
                        vector_ops)

from .work import TileWork, Transfer

__all__ = ["node_cycles", "transfer_cycles"]


def transfer_cycles(hw: HardwareConfig, xs: list[Transfer]) -> float:
    """DRAM time of transfers issued together: occupancies add up, the access latency is paid once."""
    if not xs:
        return 0.0
    costs = [dram_access_cost(x.nbytes, x.pattern.runs, x.pattern.run_bytes, hw.dram, clock_ghz=hw.clock_ghz,
                              stride_bytes=x.pattern.stride_bytes) for x in xs]
    busy = [c.cycles - hw.dram.row_hit_latency_cycles for c in costs if c.bursts]
    return sum(busy) + (hw.dram.row_hit_latency_cycles if busy else 0.0)


def compute_cycles(hw: HardwareConfig, tw: TileWork) -> float:
    """Cycles of a tile's compute phase: clusters and vector unit in parallel, then the merge."""
    parts = [0.0]
    if tw.dense is not None:
        j = tw.dense
        parts.append(dense_compute_cycles(j.macs, j.fmt, hw.dense_cluster, j.utilization,
                                          distributed_elems=j.distributed_elems, reduced_elems=j.reduced_elems))
    if tw.sparse is not None:
        j = tw.sparse
        parts.append(sparse_compute_cycles(j.dense_macs, j.density, j.fmt, hw.sparse_cluster,
                                           bitmap_elems=j.bitmap_elems, distributed_elems=j.distributed_elems))
    if tw.vector_elems:
        parts.append(vector_cycles(vector_ops(tw.vector_elems, tw.vector_kind, hw.vector_unit), hw.vector_unit))
    merge = vector_cycles(vector_ops(tw.merge_elems, "add", hw.vector_unit), hw.vector_unit) if tw.merge_elems else 0
    return max(parts) + merge


def node_cycles(hw: HardwareConfig, tiles: list[TileWork], extra_cycles: float = 0.0) -> float:
    """Closed-form cycles of one node (module docstring); ``extra_cycles`` adds serial work (detector)."""
    if not tiles:
        return float(extra_cycles)
    loads = [transfer_cycles(hw, t.loads) for t in tiles]
    writes = [sum(transfer_cycles(hw, [x]) for x in t.writes) for t in tiles]
    comp = [compute_cycles(hw, t) for t in tiles]
    bounds = (loads[0] + sum(comp) + writes[-1], sum(loads) + comp[-1] + writes[-1],
              loads[0] + comp[0] + sum(writes), sum(loads) + sum(writes))
    return max(bounds) + extra_cycles
