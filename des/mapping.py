"""Mapping: each graph node becomes a step-independent plan of tiles sized by the global buffer.

A MAC node (conv, linear, attention matmul) is tiled into ``bands`` (slices of its output rows, each
needing a slice of the input) times ``chunks`` (slices of its output channels, each needing a slice of
the weights). Loop order: bands outer, chunks inner, so an input band is fetched once and held for all
chunks, while weights are fetched once per band unless they are resident. A tiling fits when two
(input band + tile) working sets fit the working space of the buffer (one when not double buffered), so
the next band and tile load while the current ones compute.

Among the tilings that fit, the search keeps the one with the least **pipelined time**: the analytical
model's flow-shop bound (:mod:`des.analytical`: first load + compute of every tile + last write-back,
or all loads + write-backs when DRAM binds, or the global buffer's ports), costed on a representative
band-first and a following tile built by :mod:`des.work` with every channel dense (a sparse-eligible
node on a labelling machine: with its first step's labels and placement from the profile's calibration,
:func:`representative_work`), so DRAM access
patterns (address mapping), the arrays' VN mappings (utilization) and the buffer's ports all count.
Small tiles hide the first load but cost array utilization and more weight traffic; large ones expose
it: the bound weighs both. Ties go to fewer tiles, then less DRAM traffic. No fitting tiling is a
:class:`CapacityError` (the simulation fails fast rather than hang).

Vector-unit nodes are split into equal element slices the same way. The step-dependent part (which
input channels are sparse, their zero fractions) is applied by the engine when it simulates the node.
"""
from __future__ import annotations

import dataclasses
import math

import networkx as nx
import numpy as np

from components import CapacityError, HardwareConfig, labels_from_zero_fraction, make_policy
from workloads import MAC_KINDS

from .analytical import flow_shop_cycles, node_cycles, prefetch_cycles, tile_phases, transfer_cycles
from .plan import VECTOR_KIND_OF, NodePlan, vector_kind
from .precision import VECTOR_BITS, mac_format, tensor_bits
from .residency import Residency
from .work import StepWork, place_channels, tile_works

__all__ = ["NodePlan", "plan_node", "plan_graph", "VECTOR_KIND_OF", "tiling_estimate_cycles", "representative_work"]

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


_PLAN_FIELDS = frozenset(f.name for f in dataclasses.fields(NodePlan))


def _with(plan: NodePlan, **changes) -> NodePlan:
    """``dataclasses.replace(plan, **changes)`` for the tiling search's many candidates, without the
    generated ``__init__`` (a plan has no ``__post_init__``; the names are this module's own)."""
    if not _PLAN_FIELDS.issuperset(changes):
        raise TypeError(f"NodePlan has no field(s) {sorted(set(changes) - _PLAN_FIELDS)}")
    out = object.__new__(NodePlan)
    out.__dict__.update(plan.__dict__)
    out.__dict__.update(changes)
    return out


def representative_work(plan: NodePlan, hw: HardwareConfig, expected_zero_fraction: np.ndarray | None = None
                        ) -> StepWork:
    """The work the tiling search costs a node with: every channel dense, unless the node is sparse-eligible on
    a machine whose detector labels channels and its expected per-channel zero fractions are known (the
    sparsity profile's calibration, from which the detector labels the first step): then the first
    step's work, labels from the threshold and channels placed as the engine places them. So the search
    sees what the node will do: the input channels split between the arrays, the vector unit's per-tile
    merge of their partial sums, the compressed reads. Costed as an all-dense output-channel split, it
    did not see the merge and, given a larger buffer, chose one large tile that cannot overlap its merge
    with the next tile's compute (SQ-DM with twice the buffer was 0.09% slower on ddpm-cifar10)."""
    if (expected_zero_fraction is None or not plan.sparse_eligible or hw.sparse_cluster is None
            or hw.detector is None or not make_policy(hw.detector).counts_zeros):
        return StepWork()
    zf = np.asarray(expected_zero_fraction, dtype=float)
    labels = labels_from_zero_fraction(zf, hw.detector.threshold)
    return StepWork(sparse_mask=place_channels(plan, hw, labels, zf), zero_fraction=zf, compressed_mask=labels)


def tiling_estimate_cycles(plan: NodePlan, hw: HardwareConfig, prefetch_hidden_cycles: float = 0.0,
                           work: StepWork | None = None) -> tuple[float, float]:
    """(pipelined cycles, DRAM busy cycles) of ``plan``'s tiling doing ``work`` (default: every channel
    dense; weights as streamed each evaluation): the analytical flow-shop bound over its tiles, from a
    band-first tile and a following one. A prefetched first weight chunk costs only what the host's free
    DRAM time (``prefetch_hidden_cycles``) cannot hide."""
    which = [(0, 0)] + ([(0, 1)] if plan.chunks > 1 else [])
    tiles = tile_works(plan, hw, work if work is not None else StepWork(), which=which)
    first = tile_phases(hw, tiles[0])
    other = tile_phases(hw, tiles[-1])
    b, k = plan.bands, plan.chunks
    n_other = b * (k - 1)
    sum_load, sum_write = b * first.load + n_other * other.load, b * first.write + n_other * other.write
    est = flow_shop_cycles(first, other, sum_load, b * first.compute + n_other * other.compute, sum_write,
                           b * first.gb_port + n_other * other.gb_port, hw.global_buffer.ports, 0.0,
                           b * first.dram + n_other * other.dram, hw.dram.row_hit_latency_cycles,
                           b * first.merge + n_other * other.merge)
    exposed = max(prefetch_cycles(hw, plan.prefetched_weight_bytes) - prefetch_hidden_cycles, 0.0)
    return est + exposed, sum_load + sum_write


def plan_node(g: nx.DiGraph, node: str, hw: HardwareConfig, res: Residency, working_bytes: float,
              prefetch_room_bytes: float = 0.0, prefetch_host: str = "", prefetch_hidden_cycles: float = 0.0,
              expected_zero_fraction: np.ndarray | None = None) -> NodePlan:
    """The plan of one node (see the module docstring). ``prefetch_room_bytes``: global-buffer space the
    previous tiled node (``prefetch_host``) leaves free, where this node's first weight chunk may be
    prefetched while that node runs (``residency.prefetch_next_weights``). ``expected_zero_fraction``: the
    node's per-input-channel zero fractions the search costs it with (:func:`representative_work`)."""
    d = g.nodes[node]
    in_dram = res.input_dram_bytes(g, node)
    out_dram = res.output_dram_bytes(g, node)
    out_bits = res.tensor_bits.get(node, VECTOR_BITS)
    fused_io = {"fused_out_dram_bytes": res.fused_write_bytes.get(node, 0.0),
                "fused_out_bits": res.fused_write_bits.get(node, 0.0),
                "fused_in_bytes": res.fused_read_bytes.get(node, 0.0),
                "fused_in_dram_bytes": res.fused_read_dram_bytes.get(node, 0.0),
                "fused_in_bits": res.fused_read_bits.get(node, 0.0)}
    fused_in_dram = fused_io["fused_in_dram_bytes"]  # read with the input band (MAC) or slice (vector)
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
        held_in = in_bytes + fused_in_dram  # a band holds its input rows and the residual operands read with them
        w_resident = res.weights_resident and d["kind"] != "matmul"
        w_dram = 0.0 if w_resident else w_bytes
        if d["kind"] == "matmul":  # the second operand is an activation: DRAM only if its edge spilled
            in_dram = res.input_dram_bytes(g, node, "first")
            w_dram = res.input_dram_bytes(g, node, "last")
        depth = 2 if hw.global_buffer.double_buffered else 1
        conv = d.get("conv") or {}
        kel = int(math.prod(conv.get("kernel", [1, 1])))
        kw, sw = (conv.get("kernel") or [1, 1])[-1], (conv.get("stride") or [1, 1])[-1]
        base = NodePlan(node=node, kind="mac", fmt=fmt, macs=int(d["macs"]), in_channels=int(d["in_channels"]),
                        reduction=int(d["reduction"]), kernel_elems=kel, out_elements=int(d["output_elements"]),
                        in_elements=int(in_el), weight_elements=int(w_el), in_rows=rows, in_cols=cols,
                        out_rows=orows, out_cols=ocols, out_channels=oc, act_bits=a_bits, weight_bits=w_bits,
                        out_bits=out_bits, in_dram_bytes=in_dram, weight_dram_bytes_per_band=w_dram,
                        weight_first_eval_bytes=w_bytes if w_resident else 0.0, out_dram_bytes=out_dram,
                        sparse_eligible=bool(d.get("sparse_eligible")), sparse_source=d.get("sparse_source", ""),
                        new_input_fraction=min(max(sw, 1), kw) / kw if kw > 0 else 1.0, **fused_io)
        can_prefetch = hw.residency.prefetch_next_weights and d["kind"] != "matmul" and bool(prefetch_host)
        best = None
        for bands in _candidates(orows):
            for chunks in _candidates(oc):
                foot = (0 if w_resident else w_bytes / chunks) + out_bytes / (bands * chunks)
                if depth * (held_in / bands + foot) > working_bytes:
                    continue
                first_chunk = (w_dram or (w_bytes if w_resident else 0.0)) / chunks if can_prefetch else 0.0
                pre = first_chunk if 0 < first_chunk <= prefetch_room_bytes else 0.0
                cand = _with(base, bands=bands, chunks=chunks, tile_footprint_bytes=foot, band_bytes=held_in / bands,
                             prefetched_weight_bytes=pre, prefetch_host=prefetch_host if pre else "")
                est, dram = tiling_estimate_cycles(cand, hw, prefetch_hidden_cycles,
                                                   representative_work(cand, hw, expected_zero_fraction))
                key = (est, bands * chunks)
                if best is None or key < best[0]:
                    best = (key, _with(cand, estimate_cycles=est, estimate_dram_cycles=dram))
        if best is None:
            smallest = depth * (held_in / orows + (0 if w_resident else w_bytes / oc) + out_bytes / (orows * oc))
            raise CapacityError(f"node '{node}': smallest tile needs {smallest:,.0f} bytes but the global buffer "
                                f"leaves {working_bytes:,.0f} bytes of working space (capacity "
                                f"{hw.global_buffer.capacity_bytes:,} minus {res.reserved_bytes:,.0f} resident)")
        return best[1]
    if res.has_no_pass(node):
        return NodePlan(node=node, kind="fused", out_elements=int(d["output_elements"]),
                        vector_kind=vector_kind(node, d["op"]), vector_elements=int(d["output_elements"]),
                        in_dram_bytes=in_dram, out_dram_bytes=out_dram, out_bits=out_bits)
    elems = max(int(d["output_elements"]), int(d["input_elements"]))
    in_bytes = d["input_elements"] * VECTOR_BITS / 8
    out_bytes = d["output_elements"] * out_bits / 8
    w_bytes = d["weight_elements"] * VECTOR_BITS / 8
    room = tile_cap - w_bytes
    fewest = max(1, math.ceil((in_bytes + out_bytes + fused_in_dram) / room)) if room > 0 else 0
    if fewest == 0:
        raise CapacityError(f"node '{node}': vector op needs {w_bytes:,.0f} bytes of parameters, more than the "
                            f"{tile_cap:,.0f} bytes a tile may use")
    base = NodePlan(node=node, kind="vector", out_elements=int(d["output_elements"]),
                    in_elements=int(d["input_elements"]), weight_elements=int(d["weight_elements"]),
                    vector_kind=vector_kind(node, d["op"]), vector_elements=elems,
                    in_dram_bytes=in_dram, out_dram_bytes=out_dram, out_bits=out_bits,
                    weight_dram_bytes_per_band=0.0 if res.weights_resident else w_bytes,
                    weight_first_eval_bytes=w_bytes if res.weights_resident else 0.0, chunks=1, **fused_io)
    best = None
    tiles = fewest
    while True:  # more slices overlap DRAM with the vector unit; the first that is not faster ends the search
        cand = _with(base, bands=tiles, tile_footprint_bytes=(in_bytes + out_bytes + fused_in_dram) / tiles + w_bytes)
        tws = tile_works(cand, hw, StepWork())
        est = node_cycles(hw, tws)
        if best is not None and est >= best[0]:
            break
        best = (est, _with(cand, estimate_cycles=est, estimate_dram_cycles=sum(
            transfer_cycles(hw, t.loads) + transfer_cycles(hw, t.writes) for t in tws)))
        if tiles >= MAX_VECTOR_SLICES or not (in_dram or out_dram or fused_in_dram):
            break
        tiles *= 2
    return best[1]


MAX_VECTOR_SLICES = 64
"""At most this many slices of a vector node (each a few SimPy events); the estimate stops improving well
before it on the zoo models."""


def in_use_bytes(plan: NodePlan, hw: HardwareConfig) -> float:
    """Global-buffer bytes a node's tiles may hold at once (two working sets when double buffered)."""
    depth = 2 if hw.global_buffer.double_buffered else 1
    return depth * (plan.band_bytes + plan.tile_footprint_bytes)


def plan_graph(g: nx.DiGraph, hw: HardwareConfig, res: Residency,
               expected_zero_fraction: dict[str, np.ndarray] | None = None) -> dict[str, NodePlan]:
    """Plans of every node, in execution order; each MAC node's first weight chunk is prefetched during
    the previous tiled node when it fits in the space that node leaves free. ``expected_zero_fraction``:
    per sparse-eligible node, the zero fractions its tiling is costed with (the profile's calibration;
    :func:`representative_work`), so a plan is chosen for the work the node will do."""
    expected = expected_zero_fraction or {}
    working = hw.global_buffer.capacity_bytes - res.reserved_bytes
    if working <= 0:
        raise CapacityError(f"global buffer: {res.reserved_bytes:,.0f} resident bytes leave no working space "
                            f"in {hw.global_buffer.capacity_bytes:,} bytes")
    plans: dict[str, NodePlan] = {}
    host: NodePlan | None = None
    for n in sorted(g.nodes, key=lambda n: g.nodes[n]["order"]):
        room = working - in_use_bytes(host, hw) if host is not None else 0.0
        hidden = host.estimate_cycles - host.estimate_dram_cycles if host is not None else 0.0
        p = plan_node(g, n, hw, res, working, room, host.node if host is not None else "", max(hidden, 0.0),
                      expected.get(n))
        plans[n] = p
        if p.kind != "fused":
            host = p
    return plans
