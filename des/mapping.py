"""Mapping: each graph node becomes a step-independent plan of tiles sized by the global buffer.

A MAC node (conv, linear, attention matmul) is tiled into ``bands`` (slices of its output rows, each
needing a slice of the input) times ``chunks`` (slices of its output channels, each needing a slice of
the weights). Loop order: bands outer, chunks inner, so an input band is fetched once and reused by all
chunks, while weights are fetched once per band unless they are resident. Among the tilings whose tile
fits the working space of the buffer (half of it when double buffered), the one moving the fewest DRAM
bytes wins, then the one with the fewest tiles. No fitting tiling is a :class:`CapacityError` (the
simulation fails fast rather than hang).

Vector-unit nodes are split into equal element slices the same way. The step-dependent part (which
input channels are sparse, their zero fractions) is applied by the engine when it simulates the node.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from components import CapacityError, HardwareConfig

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
    tile_footprint_bytes: float = 0.0
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
        best = None
        for bands in _candidates(orows):
            for chunks in _candidates(oc):
                foot = in_bytes / bands + (0 if w_resident else w_bytes / chunks) + out_bytes / (bands * chunks)
                if foot > tile_cap:
                    continue
                traffic = (0 if w_resident else w_bytes * bands)
                key = (traffic, bands * chunks)
                if best is None or key < best[0]:
                    best = (key, bands, chunks, foot)
            if best is not None and best[1] == bands and bands > 1:
                break
        if best is None:
            smallest = in_bytes / orows + (0 if w_resident else w_bytes / oc) + out_bytes / (orows * oc)
            raise CapacityError(f"node '{node}': smallest tile needs {smallest:,.0f} bytes but the global buffer "
                                f"leaves {tile_cap:,.0f} bytes per tile (capacity "
                                f"{hw.global_buffer.capacity_bytes:,} minus {res.reserved_bytes:,.0f} resident)")
        _, bands, chunks, foot = best
        conv = d.get("conv") or {}
        kel = int(math.prod(conv.get("kernel", [1, 1])))
        w_dram = 0.0 if w_resident else w_bytes
        if d["kind"] == "matmul":  # the second operand is an activation: DRAM only if its edge spilled
            in_dram = res.input_dram_bytes(g, node, "first")
            w_dram = res.input_dram_bytes(g, node, "last")
        return NodePlan(node=node, kind="mac", fmt=fmt, macs=int(d["macs"]), in_channels=int(d["in_channels"]),
                        reduction=int(d["reduction"]), kernel_elems=kel, out_elements=int(d["output_elements"]),
                        in_elements=int(in_el), weight_elements=int(w_el), in_rows=rows, in_cols=cols,
                        out_rows=orows, out_cols=ocols, out_channels=oc, act_bits=a_bits, weight_bits=w_bits,
                        out_bits=out_bits, in_dram_bytes=in_dram, weight_dram_bytes_per_band=w_dram,
                        weight_first_eval_bytes=w_bytes if w_resident else 0.0, out_dram_bytes=out_dram,
                        bands=bands, chunks=chunks, tile_footprint_bytes=foot,
                        sparse_eligible=bool(d.get("sparse_eligible")), sparse_source=d.get("sparse_source", ""))
    if node in res.fused:
        return NodePlan(node=node, kind="fused", out_elements=int(d["output_elements"]),
                        vector_kind=VECTOR_KIND_OF.get(d["op"], "copy"), vector_elements=int(d["output_elements"]),
                        in_dram_bytes=in_dram, out_dram_bytes=out_dram, out_bits=out_bits)
    elems = max(int(d["output_elements"]), int(d["input_elements"]))
    in_bytes = d["input_elements"] * VECTOR_BITS / 8
    out_bytes = d["output_elements"] * out_bits / 8
    w_bytes = d["weight_elements"] * VECTOR_BITS / 8
    tiles = max(1, math.ceil((in_bytes + out_bytes + w_bytes) / max(tile_cap, 1.0)))
    if (in_bytes + out_bytes) / tiles + w_bytes > tile_cap:
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
