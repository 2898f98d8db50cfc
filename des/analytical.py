"""The analytical model: a closed form per node, the reference the DES is checked against and the cost the
tiling search minimizes.

Each tile has up to four phases, costed with the same pure functions the components use:

* load ``L_i``: its DRAM reads, streaming into the global buffer (the slower of the DRAM occupancy and the
  global buffer's write port);
* compute ``C_i``: both clusters (their array mappings) and the vector unit in parallel, with the global
  buffer feeding the local buffers and taking the results on its ports;
* merge ``M_i`` (a node split by input channels between the arrays): the vector unit adds the two arrays'
  partial sums, while the arrays already compute the next tile (as the DES books it);
* write-back ``W_i``: its DRAM writes, read out of the global buffer.

A double-buffered pipeline of n tiles whose loads and write-backs share one DRAM interface takes at
least the largest of the classic flow-shop bounds::

    L_0 + sum_i C_i + M_{n-1} + W_{n-1}      compute-bound: the first load, last merge and write-back exposed
    L_0 + C_0 + sum_i M_i + W_{n-1}          merge-bound: the vector unit adds every tile's partial sums
    sum_i L_i + C_{n-1} + M_{n-1} + W_{n-1}  load-bound: the last tile computes after all loads
    L_0 + C_0 + M_0 + sum_i W_i              write-bound: write-backs start after the first merge
    sum_i DRAM occupancy_i + latency    DRAM-bound: loads and write-backs share one interface (each
                                        access's latency is pipelined behind the next one's data)
    sum_i GB port cycles / ports        the global buffer's ports carry every fill, operand, result, drain

and reaches it when the buffer holds two tiles. The model ignores what the DES resolves (the FIFO order
of requests, back-pressure beyond two tiles), which is what makes it a useful cross-check.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from components import (HardwareConfig, buffer_access_cycles, dram_access_cost, vector_cycles,
                        vector_ops)

from .work import TileWork, Transfer, prefetch_transfer

__all__ = ["node_cycles", "transfer_cycles", "occupancy_cycles", "dram_cost", "tile_phases", "TilePhases", "flow_shop_cycles", "prefetch_cycles"]


@dataclass(frozen=True)
class TilePhases:
    """Cycles of one tile's load, compute and write-back, its DRAM occupancy (the interface is held for the
    data and activations; the access latency is pipelined) and its global-buffer port cycles."""

    load: float
    compute: float
    write: float
    gb_port: float
    dram: float = 0.0
    merge: float = 0.0  # the vector unit's partial-sum add after the compute, overlapping the next tile's


_COSTS: dict[int, tuple[HardwareConfig, dict]] = {}  # id(hw) -> (hw, {(bytes, pattern): DramCost}); hw kept alive
_COST_MACHINES = 16


def _cost_memo(hw: HardwareConfig) -> dict:
    """The DRAM-cost memo of machine ``hw`` (the last few machines are kept)."""
    entry = _COSTS.get(id(hw))
    if entry is None or entry[0] is not hw:
        if len(_COSTS) >= _COST_MACHINES:
            _COSTS.pop(next(iter(_COSTS)))
        entry = _COSTS[id(hw)] = (hw, {})
    return entry[1]


def dram_cost(hw: HardwareConfig, x: Transfer):
    """``dram_access_cost`` of a transfer, memoized per machine (tilings repeat the same transfers). The key
    is the pattern's fields, not the pattern (a tuple of numbers hashes faster than a dataclass)."""
    memo = _cost_memo(hw)
    p = x.pattern
    key = (x.nbytes, p.runs, p.run_bytes, p.stride_bytes)
    c = memo.get(key)
    if c is None:
        c = memo[key] = dram_access_cost(x.nbytes, p.runs, p.run_bytes, hw.dram, clock_ghz=hw.clock_ghz,
                                         stride_bytes=p.stride_bytes)
    return c


def occupancy_cycles(hw: HardwareConfig, xs: Sequence[Transfer]) -> float:
    """Cycles transfers hold the DRAM interface (their cost less the pipelined access latency)."""
    lat = hw.dram.row_hit_latency_cycles
    busy = 0  # summed in order, as sum() would
    for x in xs:
        c = dram_cost(hw, x)
        if c.bursts:
            busy += c.cycles - lat
    return busy


def transfer_cycles(hw: HardwareConfig, xs: Sequence[Transfer]) -> float:
    """DRAM time of transfers issued together: occupancies add up, the access latency is paid once."""
    busy = occupancy_cycles(hw, xs) if xs else 0.0
    return _with_latency(hw, busy)


def _with_latency(hw: HardwareConfig, busy: float) -> float:
    """DRAM time of transfers that hold the interface ``busy`` cycles (the latency once, if any)."""
    return busy + hw.dram.row_hit_latency_cycles if busy > 0 else 0.0


def _gb(hw: HardwareConfig, parts: dict[str, float]) -> int:
    return buffer_access_cycles(sum(parts.values()), hw.global_buffer)


def _compute_cycles(hw: HardwareConfig, tw: TileWork, gb_operand: int, gb_result: int) -> float:
    """Cycles of a tile's compute phase (clusters, vector unit and GB ports in parallel) given the global
    buffer's operand and result port cycles."""
    gb = [gb_operand, gb_result]
    parts = [0.0] + (gb if hw.global_buffer.ports >= 2 else [sum(gb)])
    if tw.dense is not None:
        parts.append(tw.dense.cycles)
    if tw.sparse is not None:
        parts.append(tw.sparse.cycles)
    if tw.vector_elems:
        parts.append(vector_cycles(vector_ops(tw.vector_elems, tw.vector_kind, hw.vector_unit), hw.vector_unit))
    return max(parts)


def _merge_cycles(hw: HardwareConfig, tw: TileWork) -> float:
    """Cycles of a tile's partial-sum merge on the vector unit (0: no merge)."""
    return vector_cycles(vector_ops(tw.merge_elems, "add", hw.vector_unit), hw.vector_unit) if tw.merge_elems else 0


def tile_phases(hw: HardwareConfig, tw: TileWork) -> TilePhases:
    """The three phases of one tile (module docstring), memoized on the tile (tiles are not modified once
    built, and memoized tiles are costed again and again by the tiling search)."""
    memo = tw.memo.get("phases")
    if memo is not None and memo[0] is hw:
        return memo[1]
    ph = _tile_phases(hw, tw)
    tw.memo["phases"] = (hw, ph)
    return ph


def _tile_phases(hw: HardwareConfig, tw: TileWork) -> TilePhases:
    """:func:`tile_phases`, computed: each transfer and port cost once, and what a node's tile variants
    share (``tw.shared_memo``: compute and write-back) once for all of them."""
    fill = _gb(hw, tw.gb_fill)
    shared = tw.shared_memo.get("phases") if tw.shared_memo is not None else None
    if shared is not None and shared[0] is hw:
        operand, result, drain, write_busy, write, compute, merge = shared[1]
    else:
        operand, result, drain = _gb(hw, tw.gb_operand), _gb(hw, tw.gb_result), _gb(hw, tw.gb_drain)
        write_busy = occupancy_cycles(hw, tw.writes)
        write = max(_with_latency(hw, write_busy), drain) if tw.writes else 0.0
        compute = _compute_cycles(hw, tw, operand, result)
        merge = _merge_cycles(hw, tw)
        if tw.shared_memo is not None:
            tw.shared_memo["phases"] = (hw, (operand, result, drain, write_busy, write, compute, merge))
    load_busy = occupancy_cycles(hw, tw.loads)
    load = max(_with_latency(hw, load_busy), fill) if tw.loads else 0.0
    port = (fill + operand + result + drain)
    return TilePhases(load, compute, write, port, load_busy + write_busy, merge)


def flow_shop_cycles(first: TilePhases, last: TilePhases, sum_load: float, sum_compute: float, sum_write: float,
                     sum_gb_port: float, gb_ports: int, prefetch_dram_cycles: float = 0.0,
                     sum_dram: float | None = None, latency: float = 0.0, sum_merge: float = 0.0) -> float:
    """The largest of the pipeline bounds (module docstring) from the first and last tiles and the sums.
    The DRAM bound is the interface's occupancy (``sum_dram``, latencies pipelined) plus one latency, or
    the phases' sum when no occupancy is given; a prefetch hosted by the node adds its DRAM time. Without
    merges these are the three-stage bounds."""
    dram_bound = (sum_load + sum_write if sum_dram is None else sum_dram + (latency if sum_dram > 0 else 0.0))
    bounds = [first.load + sum_compute + last.write, sum_load + last.compute + last.write,
              first.load + first.compute + sum_write, dram_bound + prefetch_dram_cycles, sum_gb_port / gb_ports]
    if sum_merge:
        bounds[0] += last.merge
        bounds[1] += last.merge
        bounds[2] += first.merge
        bounds.append(first.load + first.compute + sum_merge + last.write)
    return max(bounds)


def prefetch_cycles(hw: HardwareConfig, nbytes: float) -> float:
    """DRAM occupancy of a weight prefetch of ``nbytes`` (one sequential read, its latency pipelined)."""
    return occupancy_cycles(hw, [prefetch_transfer(nbytes)]) if nbytes else 0.0


def node_cycles(hw: HardwareConfig, tiles: list[TileWork], extra_cycles: float = 0.0,
                prefetch_bytes: float = 0.0) -> float:
    """Closed-form cycles of one node (module docstring); ``extra_cycles`` adds serial work (detector),
    ``prefetch_bytes`` the next node's weights the node prefetches."""
    pre = prefetch_cycles(hw, prefetch_bytes)
    if not tiles:
        return float(extra_cycles) + pre
    ids = list(map(id, tiles))  # tiles that are the same object have the same phases: each costed once
    cols = {}
    for i, t in dict(zip(ids, tiles)).items():
        p = tile_phases(hw, t)
        cols[i] = (p.load, p.compute, p.write, p.gb_port, p.dram, p.merge)
    loads, computes, writes, ports, drams, merges = zip(*map(cols.__getitem__, ids))  # summed in tile order
    return flow_shop_cycles(tile_phases(hw, tiles[0]), tile_phases(hw, tiles[-1]), sum(loads), sum(computes),
                            sum(writes), sum(ports), hw.global_buffer.ports, pre, sum(drams),
                            hw.dram.row_hit_latency_cycles, sum(merges)) + extra_cycles
