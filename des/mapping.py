"""Mapping: each graph node becomes a step-independent plan of tiles sized by the global buffer.

A MAC node (conv, linear, attention matmul) is tiled into ``bands`` (slices of its output rows, each
needing a slice of the input) times ``chunks`` (slices of its output channels, each needing a slice of
the weights). Loop order: bands outer, chunks inner, so an input band is fetched once and held for all
chunks, while weights are fetched once per band unless they are resident. A tiling fits when two
(input band + tile) working sets fit the working space of the buffer (one when not double buffered), so
the next band and tile load while the current ones compute. Among those, the
tiling with the smallest estimated time wins: the largest of compute at peak, operand distribution and
DRAM time (each transfer costed with its access pattern under the machine's address mapping, so an
interleaved layout favours row bands and a channel-last layout channel chunks), then less DRAM time,
then fewer tiles. No fitting tiling is a :class:`CapacityError` (the
simulation fails fast rather than hang).

Vector-unit nodes are split into equal element slices the same way. The step-dependent part (which
input channels are sparse, their zero fractions) is applied by the engine when it simulates the node.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from components import AccessPattern, CapacityError, HardwareConfig, channel_subset_pattern, dram_access_cost

from .precision import VECTOR_BITS, mac_format, tensor_bits
from .residency import MAC_KINDS, Residency

__all__ = ["NodePlan", "plan_node", "plan_graph", "VECTOR_KIND_OF"]

# Graph op -> vector_unit.ops_per_element key (the per-kind op counts live in the hardware config).
VECTOR_KIND_OF = {
    "group_norm": "group_norm", "layer_norm": "layer_norm", "softmax": "softmax", "relu": "relu",
    "silu": "silu", "gelu": "gelu", "sigmoid": "silu", "tanh": "gelu", "add": "add", "sub": "add",
    "mul": "mul", "div": "mul", "exp": "silu", "sin": "gelu", "cos": "gelu", "neg": "mul", "rsqrt": "silu",
    "sqrt": "silu", "pow": "mul", "reciprocal": "mul", "log": "silu", "abs": "relu", "clamp": "relu",
    "maximum": "relu", "minimum": "relu", "rsub": "add", "where": "copy", "upsample": "upsample",
    "avg_pool": "add", "max_pool": "relu", "concat": "copy", "pad": "copy", "embedding": "copy", "mean": "add",
}


@dataclass(frozen=True)
class NodePlan:
    """Step-independent plan of one node: sizes, traffic per tile, tiling (all byte counts are useful bytes)."""

    node: str
    kind: str  # "mac" | "vector" | "fused"
    fmt: str = ""  # MAC format (hardware family)
    macs: int = 0
    in_channels: int = 0
    reduction: int = 0
    kernel_elems: int = 1  # kh*kw for convolutions
    out_elements: int = 0
    in_elements: int = 0  # elements of the activation operand (operand 0)
    weight_elements: int = 0  # weights, or the second activation operand of a matmul
    in_rows: int = 1  # rows x cols of one channel plane of the input (for DRAM access patterns)
    in_cols: int = 1
    out_rows: int = 1
    out_cols: int = 1
    out_channels: int = 0
    act_bits: float = VECTOR_BITS
    weight_bits: float = VECTOR_BITS
    out_bits: float = VECTOR_BITS
    in_dram_bytes: float = 0.0  # total activation bytes read from DRAM by this node
    weight_dram_bytes_per_band: float = 0.0  # weight bytes read per band (0 if resident and loaded)
    weight_first_eval_bytes: float = 0.0  # bytes of resident weights read at the run's first evaluation
    out_dram_bytes: float = 0.0
    bands: int = 1
    chunks: int = 1
    tile_footprint_bytes: float = 0.0  # held by one tile (weight chunk + output slice)
    band_bytes: float = 0.0  # input band, held from a band's first tile to its last
    vector_kind: str = ""
    vector_elements: int = 0
    sparse_eligible: bool = False
    sparse_source: str = ""

    @property
    def tiles(self) -> int:
        return self.bands * self.chunks


def _plane(shape: list[int]) -> tuple[int, int, int]:
    """(channels, rows, cols) of an activation shape: NCHW conv input, [M, K] linear, [B, M, K] matmul."""
    if len(shape) == 4:
        return shape[1], shape[0] * shape[2], shape[3]
    if len(shape) == 3:
        return shape[2], shape[0] * shape[1], 1
    if len(shape) == 2:
        return shape[1], shape[0], 1
    n = 1
    for s in shape:
        n *= s
    return 1, n, 1


def _candidates(limit: int) -> list[int]:
    out, k = [], 1
    while k < limit:
        out.append(k)
        k *= 2
    out.append(max(limit, 1))
    return sorted(set(out))


def _tiling_dram_cycles(hw: HardwareConfig, bands: int, chunks: int, in_dram: float, rows: int, cols: int, c: int,
                        w_dram: float, out_dram: float, orows: int, ocols: int, oc: int) -> float:
    """Estimated DRAM cycles of one tiling (all channels dense): input bands, weight chunks, output slices."""
    cyc = 0.0
    if in_dram:
        b, p = channel_subset_pattern(max(math.ceil(rows / bands), 1), max(cols, 1), c, c, in_dram / (rows * cols * c),
                                      hw.dram.address_mapping, hw.dram.burst_bytes)
        cyc += bands * _cost(hw, b, p)
    if w_dram:
        wb = w_dram / chunks
        cyc += bands * chunks * _cost(hw, wb, AccessPattern.contiguous(wb))
    if out_dram:
        sel = max(1, round(oc / chunks))
        b, p = channel_subset_pattern(max(math.ceil(orows / bands), 1), max(ocols, 1), oc, min(sel, oc),
                                      out_dram / (orows * ocols * oc), hw.dram.address_mapping, hw.dram.burst_bytes)
        cyc += bands * chunks * _cost(hw, b, p)
    return cyc


def _cost(hw: HardwareConfig, nbytes: float, p: AccessPattern) -> float:
    return dram_access_cost(nbytes, p.runs, p.run_bytes, hw.dram, clock_ghz=hw.clock_ghz,
                            stride_bytes=p.stride_bytes).cycles


def plan_node(g: nx.DiGraph, node: str, hw: HardwareConfig, res: Residency, working_bytes: float) -> NodePlan:
    """The plan of one node (see the module docstring)."""
    d = g.nodes[node]
    in_dram = res.input_dram_bytes(g, node)
    out_dram = res.output_dram_bytes(g, node)
    out_bits = res.tensor_bits.get(node, VECTOR_BITS)
    tile_cap = working_bytes / 2 if hw.global_buffer.double_buffered else working_bytes
    if d["kind"] in MAC_KINDS:
        fmt = mac_format(d)
        a_bits, w_bits = tensor_bits(d, "act"), tensor_bits(d, "weight")
        shapes = d["input_shapes"]
        c, rows, cols = _plane(shapes[0])
        oc, orows, ocols = _plane(d["output_shape"])
        in_el = rows * cols * c
        w_el = d["weight_elements"] if d["kind"] != "matmul" else (
            math.prod(shapes[1]) if len(shapes) > 1 else 0)
        in_bytes, w_bytes, out_bytes = in_el * a_bits / 8, w_el * w_bits / 8, d["output_elements"] * out_bits / 8
        w_resident = res.weights_resident and d["kind"] != "matmul"
        w_dram = 0.0 if w_resident else w_bytes
        if d["kind"] == "matmul":  # the second operand is an activation: DRAM only if its edge spilled
            in_dram = res.input_dram_bytes(g, node, "first")
            w_dram = res.input_dram_bytes(g, node, "last")
        depth = 2 if hw.global_buffer.double_buffered else 1
        cluster = hw.dense_cluster or hw.sparse_cluster
        compute_est = d["macs"] / (cluster.multipliers * cluster.rates.get(fmt, 1.0))
        best = None
        for bands in _candidates(orows):
            for chunks in _candidates(oc):
                foot = (0 if w_resident else w_bytes / chunks) + out_bytes / (bands * chunks)
                if depth * (in_bytes / bands + foot) > working_bytes:
                    continue
                tiles = bands * chunks
                dram = _tiling_dram_cycles(hw, bands, chunks, in_dram, rows, cols, c, w_dram, out_dram, orows,
                                           ocols, oc)
                dist = tiles * (in_el / bands + w_el / chunks) / cluster.distribution_bw_elems_per_cycle
                key = (max(compute_est, dist, dram), dram, tiles)
                if best is None or key < best[0]:
                    best = (key, bands, chunks, foot)
        if best is None:
            smallest = depth * (in_bytes / orows + (0 if w_resident else w_bytes / oc) + out_bytes / (orows * oc))
            raise CapacityError(f"node '{node}': smallest tile needs {smallest:,.0f} bytes but the global buffer "
                                f"leaves {working_bytes:,.0f} bytes of working space (capacity "
                                f"{hw.global_buffer.capacity_bytes:,} minus {res.reserved_bytes:,.0f} resident)")
        _, bands, chunks, foot = best
        conv = d.get("conv") or {}
        kel = int(math.prod(conv.get("kernel", [1, 1])))
        return NodePlan(node=node, kind="mac", fmt=fmt, macs=int(d["macs"]), in_channels=int(d["in_channels"]),
                        reduction=int(d["reduction"]), kernel_elems=kel, out_elements=int(d["output_elements"]),
                        in_elements=int(in_el), weight_elements=int(w_el), in_rows=rows, in_cols=cols,
                        out_rows=orows, out_cols=ocols, out_channels=oc, act_bits=a_bits, weight_bits=w_bits,
                        out_bits=out_bits, in_dram_bytes=in_dram, weight_dram_bytes_per_band=w_dram,
                        weight_first_eval_bytes=w_bytes if w_resident else 0.0, out_dram_bytes=out_dram,
                        bands=bands, chunks=chunks, tile_footprint_bytes=foot, band_bytes=in_bytes / bands,
                        sparse_eligible=bool(d.get("sparse_eligible")), sparse_source=d.get("sparse_source", ""))
    if node in res.fused:
        return NodePlan(node=node, kind="fused", out_elements=int(d["output_elements"]),
                        vector_kind=VECTOR_KIND_OF.get(d["op"], "copy"), vector_elements=int(d["output_elements"]),
                        in_dram_bytes=in_dram, out_dram_bytes=out_dram, out_bits=out_bits)
    elems = max(int(d["output_elements"]), int(d["input_elements"]))
    in_bytes = d["input_elements"] * VECTOR_BITS / 8
    out_bytes = d["output_elements"] * out_bits / 8
    w_bytes = d["weight_elements"] * VECTOR_BITS / 8
    room = tile_cap - w_bytes
    tiles = max(1, math.ceil((in_bytes + out_bytes) / room)) if room > 0 else 0
    if tiles == 0:
        raise CapacityError(f"node '{node}': vector op needs {w_bytes:,.0f} bytes of parameters, more than the "
                            f"{tile_cap:,.0f} bytes a tile may use")
    return NodePlan(node=node, kind="vector", out_elements=int(d["output_elements"]),
                    in_elements=int(d["input_elements"]), weight_elements=int(d["weight_elements"]),
                    vector_kind=VECTOR_KIND_OF.get(d["op"], "copy"), vector_elements=elems,
                    in_dram_bytes=in_dram, out_dram_bytes=out_dram, out_bits=out_bits,
                    weight_dram_bytes_per_band=0.0 if res.weights_resident else w_bytes,
                    weight_first_eval_bytes=w_bytes if res.weights_resident else 0.0,
                    bands=tiles, chunks=1, tile_footprint_bytes=(in_bytes + out_bytes) / tiles + w_bytes)


def plan_graph(g: nx.DiGraph, hw: HardwareConfig, res: Residency) -> dict[str, NodePlan]:
    """Plans of every node, in execution order."""
    working = hw.global_buffer.capacity_bytes - res.reserved_bytes
    if working <= 0:
        raise CapacityError(f"global buffer: {res.reserved_bytes:,.0f} resident bytes leave no working space "
                            f"in {hw.global_buffer.capacity_bytes:,} bytes")
    return {n: plan_node(g, n, hw, res, working) for n in sorted(g.nodes, key=lambda n: g.nodes[n]["order"])}
