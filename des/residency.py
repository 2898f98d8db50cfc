"""The residency rule: which tensors stay on chip, which go through DRAM (decides compulsory traffic).

Stated rule (switches and budgets in the hardware config's ``residency`` section):

1. **Weights** stay on chip across layers and steps when ``keep_weights_on_chip_if_fit`` is set and the
   whole network's weight bytes fit in ``weight_budget_fraction`` of the global buffer: DRAM then reads
   each weight once per run (at the first network evaluation). Otherwise every evaluation reads every
   weight from DRAM (once per output band of the node's tiling).
2. **Activation tensors** are stored once by their producer, in the format of their widest consumer
   (a MAC node's activation format, FP16 for vector-unit consumers).
   * A tensor consumed only by the next operations (``data`` edges) stays on chip when it fits in
     ``tensor_budget_fraction`` of the global buffer.
   * A long-lived tensor (a ``skip`` or ``residual`` edge) stays on chip when
     ``keep_skip_tensors_on_chip_if_fit`` is set and all long-lived tensors alive at that time fit in
     ``skip_budget_fraction`` of the buffer (first come, first kept).
   * Otherwise the producer writes it to DRAM and every consumer whose edge spilled reads it back.
3. The network's inputs come from DRAM; its outputs (nodes without consumers) go to DRAM.
4. With ``fusion.relu_quant_zero_count_fused``, an activation op fed by a norm, a MAC or an elementwise
   op runs inside its producer's write-back: no pass of its own and no traffic of its own.
5. With ``fusion.broadcast_elementwise_fused``, an add/sub/mul/div with one full-size operand and only
   broadcast ones besides (each at most 1/8 of the output: a per-channel bias or time embedding, a scalar,
   a constant) runs in the write-back of the full operand's producer, when that producer is a norm, a MAC
   or an elementwise op whose tensor nothing else reads (so the un-transformed tensor is never stored).
   Its output takes the producer's place; a broadcast operand (at most 1/8 of a tensor) is not charged.
6. A fused op's input from the producer it is fused into is never stored (it is consumed in the
   write-back), so that edge neither spills nor makes the producer write; the fused op's own tensor is
   stored by the rules above like any other, and when it goes to DRAM the root producer's write-back writes
   it (``fused_write_bytes``).
7. With ``fusion.residual_add_fused``, an add/sub/mul of two full-size tensors (a residual add) runs in the
   write-back of the later operand's producer, when that producer is a norm, a MAC or an elementwise op whose
   tensor nothing else reads, as NVDLA's SDP runs an element-wise layer in its "online" mode: one operand
   from the convolution pipeline, the other read from memory. The other operand is stored by its producer
   as usual and read by the root producer's write-back, from DRAM where its edge spilled
   (``fused_read_bytes``, ``fused_read_dram_bytes``).
8. With ``fusion.concat_as_view``, a concatenation is a view: its operands stay where their producers stored
   them (by the rules above, for the concat's consumers' widest format) and each consumer of the concat
   reads them there, as a compiler elides a concat by addressing its parts (no pass, no tensor of its own).
   A concat that is a network output or reads a network input keeps its pass.

The budgets reserved by (1) and (2) are taken from the buffer before tiles are sized.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from components import HardwareConfig
from workloads import MAC_KINDS

from .precision import VECTOR_BITS, tensor_bits

__all__ = ["Residency", "plan_residency", "MAC_KINDS"]

_FUSABLE_PRODUCERS = ("norm", "conv", "linear", "matmul", "elementwise")
_BROADCAST_OPS = ("add", "sub", "mul", "div")
_BROADCAST_RATIO = 8  # a broadcast operand has at most 1/8 of the output's elements (per-channel: 1/(H*W))
_RESIDUAL_OPS = ("add", "sub", "mul")  # NVDLA SDP element-wise layer: add, multiply (max/min are not in the graphs)


@dataclass
class Residency:
    """Outcome of the residency rule for one graph on one machine."""

    weights_resident: bool
    weight_bytes: float
    reserved_bytes: float  # taken from the global buffer before tiling (resident weights + skip region)
    tensor_bits: dict[str, float] = field(default_factory=dict)  # producer -> stored bits per element
    spilled: set[tuple[str, str]] = field(default_factory=set)  # edges read back from DRAM
    written: set[str] = field(default_factory=set)  # producers that write their tensor to DRAM
    fused_into: dict[str, str] = field(default_factory=dict)  # op run in a write-back (rules 4, 5) -> its producer
    fused_write_bytes: dict[str, float] = field(default_factory=dict)  # root producer -> fused tensors' DRAM bytes
    fused_write_bits: dict[str, float] = field(default_factory=dict)  # ... and their widest bits per element
    # rule 7: root producer -> bytes of the second operands its write-back reads (as stored), of them from DRAM,
    # and their widest bits per element
    fused_read_bytes: dict[str, float] = field(default_factory=dict)
    fused_read_dram_bytes: dict[str, float] = field(default_factory=dict)
    fused_read_bits: dict[str, float] = field(default_factory=dict)
    views: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rule 8: concat -> its operands' producers
    skip_peak_bytes: float = 0.0

    def input_dram_bytes(self, g: nx.DiGraph, node: str, operand: str = "all") -> float:
        """Bytes node ``node`` reads from DRAM for its activation inputs (spilled edges + model inputs), as
        stored by their producers. ``operand``: ``all``, or for a matmul ``first`` / ``last`` (the two
        activation operands)."""
        d = g.nodes[node]
        total = 0.0
        for u in g.predecessors(node):
            e = g.edges[u, node]
            if operand != "all":
                is_last = max(e["operands"]) == len(d["input_shapes"]) - 1
                if is_last != (operand == "last"):
                    continue
            for p, v in self.stored_edges(u, node):
                if (p, v) in self.spilled:
                    total += g.edges[p, v]["elements"] * self.tensor_bits[p] / 8
        if operand in ("all", "first"):
            total += d.get("model_input_elements", 0) * _consumer_bits(d) / 8
        return total

    @property
    def fused(self):
        """The ops without a pass of their own: run in a producer's write-back (rules 4, 5, 7) or views (rule 8)."""
        return self.fused_into.keys() | self.views.keys()

    def has_no_pass(self, node: str) -> bool:
        """Whether ``node`` is in :attr:`fused` (without building the set)."""
        return node in self.fused_into or node in self.views

    def stored_edges(self, u: str, v: str) -> list[tuple[str, str]]:
        """The edges whose stored tensors a read of edge ``u -> v`` reads: the edge itself, or through a view
        ``u`` (rule 8) the edges into it, recursively."""
        if u not in self.views:
            return [(u, v)]
        return [e for p in self.views[u] for e in self.stored_edges(p, u)]

    def root(self, node: str) -> str:
        """The node whose write-back runs ``node`` (itself when it is not fused)."""
        while node in self.fused_into:
            node = self.fused_into[node]
        return node

    def output_dram_bytes(self, g: nx.DiGraph, node: str) -> float:
        """Bytes node ``node`` writes to DRAM for its own tensor, when spilled or a network output (a fused
        op's tensor is written by its root producer: ``fused_write_bytes``)."""
        if node in self.written and node not in self.fused:
            return g.nodes[node]["output_elements"] * self.tensor_bits.get(node, VECTOR_BITS) / 8
        return 0.0


def _broadcast_producer(g: nx.DiGraph, n: str, d: dict) -> str | None:
    """Rule 5: the producer into whose write-back elementwise op ``n`` fuses, or None."""
    if d["kind"] != "elementwise" or d["op"] not in _BROADCAST_OPS:
        return None
    out = d["output_elements"]
    preds = list(g.predecessors(n))
    full = [p for p in preds if g.nodes[p]["output_elements"] == out]
    if len(full) != 1 or d["weight_elements"] * _BROADCAST_RATIO > out:
        return None
    u = full[0]
    if g.nodes[u]["kind"] not in _FUSABLE_PRODUCERS or g.out_degree(u) != 1:
        return None
    if any(g.nodes[p]["output_elements"] * _BROADCAST_RATIO > out for p in preds if p != u):
        return None
    return u


def _residual_operands(g: nx.DiGraph, n: str, d: dict) -> tuple[str, str] | None:
    """Rule 7: (the producer whose write-back runs elementwise op ``n``, the producer of its other operand),
    or None."""
    if d["kind"] != "elementwise" or d["op"] not in _RESIDUAL_OPS or d["weight_elements"] * _BROADCAST_RATIO > \
            d["output_elements"]:
        return None
    preds = list(g.predecessors(n))
    if len(preds) != 2 or any(g.nodes[p]["output_elements"] != d["output_elements"] for p in preds):
        return None
    other, u = sorted(preds, key=lambda p: g.nodes[p]["order"])  # the later one: the other already exists
    if g.nodes[u]["kind"] not in _FUSABLE_PRODUCERS or g.out_degree(u) != 1:
        return None
    return u, other


def _is_view(g: nx.DiGraph, n: str, d: dict) -> bool:
    """Rule 8: a concat its consumers read in place."""
    return d["kind"] == "concat" and g.out_degree(n) > 0 and not d.get("model_input_elements") and \
        g.in_degree(n) > 0


def _consumer_bits(d: dict) -> float:
    return tensor_bits(d, "act") if d.get("kind") in MAC_KINDS else VECTOR_BITS


def plan_residency(g: nx.DiGraph, hw: HardwareConfig) -> Residency:
    """Apply the residency rule (module docstring) to graph ``g`` on machine ``hw``."""
    cap = float(hw.global_buffer.capacity_bytes)
    rr = hw.residency
    weight_bytes = sum(d["weight_elements"] * tensor_bits(d, "weight") / 8 if d.get("kind") in MAC_KINDS
                       else d["weight_elements"] * VECTOR_BITS / 8 for _, d in g.nodes(data=True))
    weights_resident = rr.keep_weights_on_chip_if_fit and weight_bytes <= rr.weight_budget_fraction * cap
    res = Residency(weights_resident=weights_resident, weight_bytes=weight_bytes, reserved_bytes=0.0)
    fz = hw.fusion
    residual: dict[str, str] = {}  # rule 7: fused op -> the producer of its other operand
    for n, d in sorted(g.nodes(data=True), key=lambda nd: nd[1]["order"]):
        u = None
        if d["kind"] == "activation":
            preds = list(g.predecessors(n))
            u = preds[0] if fz.relu_quant_zero_count_fused and len(preds) == 1 and \
                g.nodes[preds[0]]["kind"] in _FUSABLE_PRODUCERS else None
        elif fz.concat_as_view and _is_view(g, n, d):
            res.views[n] = tuple(sorted(g.predecessors(n), key=lambda p: g.nodes[p]["order"]))
        else:
            u = _broadcast_producer(g, n, d) if fz.broadcast_elementwise_fused else None
            pair = _residual_operands(g, n, d) if u is None and fz.residual_add_fused else None
            if pair is not None:
                u, residual[n] = pair
        if u is not None:
            res.fused_into[n] = u
    order = {n: d["order"] for n, d in g.nodes(data=True)}

    def stored_for(u: str) -> list[str]:  # the consumers that read u's tensor as stored (rule 6)
        return [v for v in g.successors(u) if res.fused_into.get(v) != u]

    def bits_for(v: str) -> float:  # the format consumer v reads in (a view: its own consumers' widest)
        if v in res.views:
            return max((bits_for(w) for w in g.successors(v)), default=VECTOR_BITS)
        return _consumer_bits(g.nodes[v])

    def last_use(v: str) -> int:  # when consumer v reads (a view: when its last consumer does)
        return max((last_use(w) for w in g.successors(v)), default=order[v]) if v in res.views else order[v]
    for u in g.nodes:
        res.tensor_bits[u] = max((bits_for(v) for v in stored_for(u)), default=VECTOR_BITS)
    tensor_budget = rr.tensor_budget_fraction * cap
    skip_budget = rr.skip_budget_fraction * cap if rr.keep_skip_tensors_on_chip_if_fit else 0.0
    live: list[tuple[int, float]] = []  # (last use order, bytes) of long-lived tensors kept on chip
    for u in sorted(g.nodes, key=order.get):
        nbytes = g.nodes[u]["output_elements"] * res.tensor_bits[u] / 8
        if g.out_degree(u) == 0:  # a network output
            res.written.add(u)
            continue
        outs = stored_for(u)
        if not outs or u in res.views:  # read only by ops fused into its write-back, or a view: never stored
            continue
        long_lived = [v for v in outs if g.edges[u, v]["kind"] in ("skip", "residual")]
        short = [v for v in outs if v not in long_lived]
        if short and nbytes > tensor_budget:
            res.spilled.update((u, v) for v in short)
        if long_lived:
            now = order[u]
            live = [(end, b) for end, b in live if end > now]
            if nbytes + sum(b for _, b in live) <= skip_budget:
                live.append((max(last_use(v) for v in long_lived), nbytes))
                res.skip_peak_bytes = max(res.skip_peak_bytes, sum(b for _, b in live))
            else:
                res.spilled.update((u, v) for v in long_lived)
        if any((u, v) in res.spilled for v in outs):
            res.written.add(u)
    for v in res.fused_into:  # in graph order: the sums below are the same in every process
        if v not in res.written:
            continue
        root = res.root(v)
        res.fused_write_bytes[root] = res.fused_write_bytes.get(root, 0.0) + \
            g.nodes[v]["output_elements"] * res.tensor_bits[v] / 8
        res.fused_write_bits[root] = max(res.fused_write_bits.get(root, 0.0), res.tensor_bits[v])
    for v, other in residual.items():  # rule 7, in graph order: the second operand, read by the write-back
        root = res.root(v)
        for p, w in res.stored_edges(other, v):
            nbytes = g.edges[p, w]["elements"] * res.tensor_bits[p] / 8
            res.fused_read_bytes[root] = res.fused_read_bytes.get(root, 0.0) + nbytes
            res.fused_read_dram_bytes[root] = res.fused_read_dram_bytes.get(root, 0.0) + \
                (nbytes if (p, w) in res.spilled else 0.0)
            res.fused_read_bits[root] = max(res.fused_read_bits.get(root, 0.0), res.tensor_bits[p])
    res.reserved_bytes = (weight_bytes if weights_resident else 0.0) + res.skip_peak_bytes
    return res
