"""The schema of workload files: every node and edge attribute the simulator reads, with its type, range and
consistency with the rest of the graph, checked before a graph is built from a file.

Per node (pydantic, :class:`NodeAttrs`): integers are JSON integers (``1e6``, ``"5"``, ``NaN`` are refused)
within ``0 .. 2**53`` (exact in float64); shapes are lists of 1..8 positive dimensions;
``output_elements`` is the product of ``output_shape`` and ``input_elements`` the sum of the products of
``input_shapes``; ``kind`` is one of :data:`NODE_KINDS`. Only MAC kinds (conv, linear, matmul) may carry MACs,
and their ``macs`` equal ``output_elements x reduction`` (transposed convolutions excepted), their channel
counts match their shapes, and a conv node has a ``conv`` record. Other attributes are kept as they are.

Per graph (:func:`check_graph_body`): ``directed`` true and ``multigraph`` false; at least one node, at
most ``components.fileio.limits.MAX_WORKLOAD_NODES``; unique node ids; every edge joins two listed nodes, once; no
cycle; unique ``order`` values, increasing along every edge; a sparse-eligible node names an activation
node that runs before it as its ``sparse_source``; ``graph.macs``, when given, is the sum of the nodes' MACs.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Optional

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from components.fileio import validation_message
from components.fileio.limits import MAX_NAME_CHARS, MAX_WORKLOAD_NODES

from .errors import WorkloadFileError
from .constants import MAC_KINDS

__all__ = ["NODE_KINDS", "MAC_NODE_KINDS", "EDGE_KINDS", "NodeAttrs", "EdgeAttrs", "REQUIRED_NODE_KEYS",
           "check_graph_body"]

MAX_COUNT = 2**53
NODE_KINDS = ("conv", "linear", "matmul", "norm", "softmax", "activation", "elementwise", "resample", "concat",
              "pad", "embedding", "reduce")
MAC_NODE_KINDS = MAC_KINDS  # the one definition, workloads.constants
EDGE_KINDS = ("data", "residual", "skip")
REQUIRED_NODE_KEYS = ("op", "kind", "macs", "output_shape", "output_elements", "input_shapes", "input_elements",
                      "weight_elements", "block", "order")
MAX_EDGES_PER_NODE = 16

Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
Dim = Annotated[int, Field(strict=True, ge=1, le=2**31)]
Shape = Annotated[list[Dim], Field(min_length=0, max_length=8)]
Name = Annotated[str, Field(strict=True, max_length=MAX_NAME_CHARS)]
NodeId = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_NAME_CHARS)]
Bits = Annotated[float, Field(gt=0.0, le=64.0, allow_inf_nan=False)]
Order = Annotated[int, Field(strict=True, ge=0, le=2**31)]


class ConvAttrs(BaseModel):
    """A convolution's geometry (``conv`` of a conv node)."""

    model_config = ConfigDict(extra="forbid")
    kernel: Annotated[list[Dim], Field(min_length=1, max_length=3)]
    stride: Annotated[list[Dim], Field(min_length=1, max_length=3)]
    padding: Annotated[list[Annotated[int, Field(strict=True, ge=0, le=2**31)]], Field(min_length=1, max_length=6)]
    dilation: Annotated[list[Dim], Field(min_length=1, max_length=3)]
    groups: Dim
    transposed: StrictBool


def _prod(shape: list[int]) -> int:
    return math.prod(shape)


class NodeAttrs(BaseModel):
    """The attributes of one workload-graph node that the simulator reads (others are kept unchecked)."""

    model_config = ConfigDict(extra="allow")
    id: NodeId
    op: Annotated[str, Field(strict=True, min_length=1, max_length=64)]
    kind: Literal[NODE_KINDS]  # type: ignore[valid-type]
    macs: Count
    output_shape: Shape
    output_elements: Count
    input_shapes: Annotated[list[Shape], Field(max_length=16)]
    input_elements: Count
    model_input_elements: Count = 0
    weight_elements: Count = 0
    in_channels: Count = 0
    out_channels: Count = 0
    reduction: Count = 0
    conv: Optional[ConvAttrs] = None
    sparse_eligible: StrictBool = False
    sparse_source: Name = ""
    block: Name
    order: Order
    module: Name = ""
    weight_format: Optional[Name] = None
    act_format: Optional[Name] = None
    weight_bits: Optional[Bits] = None
    act_bits: Optional[Bits] = None
    precision_bits: Optional[Literal[4, 8, 16, 32]] = None

    @model_validator(mode="after")
    def _consistent(self) -> "NodeAttrs":
        if self.output_elements != _prod(self.output_shape):
            raise ValueError(f"output_elements {self.output_elements} is not the product of output_shape "
                             f"{self.output_shape} ({_prod(self.output_shape)})")
        total_in = sum(_prod(s) for s in self.input_shapes)
        if self.input_elements != total_in:
            raise ValueError(f"input_elements {self.input_elements} is not the sum over input_shapes ({total_in})")
        if self.model_input_elements > self.input_elements:
            raise ValueError(f"model_input_elements {self.model_input_elements} exceeds input_elements "
                             f"{self.input_elements}")
        if self.kind not in MAC_NODE_KINDS:
            if self.macs:
                raise ValueError(f"macs must be 0 for a '{self.kind}' node (only conv, linear and matmul nodes "
                                 f"execute MACs), got {self.macs}")
            if self.sparse_eligible:
                raise ValueError(f"sparse_eligible must be false for a '{self.kind}' node")
            return self
        self._check_mac()
        return self

    def _check_mac(self) -> None:
        if not self.input_shapes or not self.input_shapes[0]:
            raise ValueError(f"a '{self.kind}' node needs the shape of its activation input (input_shapes[0])")
        for name in ("in_channels", "out_channels", "reduction"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 for a '{self.kind}' node")
        x, y = self.input_shapes[0], self.output_shape
        if self.kind == "conv":
            if self.conv is None:
                raise ValueError("a conv node needs its 'conv' record (kernel, stride, padding, dilation, groups, "
                                 "transposed)")
            if len(x) != 4 or len(y) != 4:
                raise ValueError(f"a conv node's input and output are NCHW (rank 4), got {x} -> {y}")
            cin, cout = x[1], y[1]
        else:
            if not y:
                raise ValueError(f"a '{self.kind}' node needs an output_shape")
            cin, cout = x[-1], y[-1]
        if self.in_channels != cin or self.out_channels != cout:
            raise ValueError(f"in_channels/out_channels {self.in_channels}/{self.out_channels} do not match the "
                             f"shapes {x} -> {y} ({cin}/{cout})")
        if not (self.conv is not None and self.conv.transposed) and self.macs != self.output_elements * self.reduction:
            raise ValueError(f"macs {self.macs} is not output_elements x reduction "
                             f"({self.output_elements} x {self.reduction} = {self.output_elements * self.reduction})")
        if self.sparse_eligible and not self.sparse_source:
            raise ValueError("a sparse-eligible node needs its sparse_source (the ReLU it reads)")


class EdgeAttrs(BaseModel):
    """One data dependency."""

    model_config = ConfigDict(extra="allow")
    source: NodeId
    target: NodeId
    kind: Literal[EDGE_KINDS]  # type: ignore[valid-type]
    elements: Count
    operands: Annotated[list[Annotated[int, Field(strict=True, ge=0, le=64)]], Field(min_length=1, max_length=16)]


class GraphAttrs(BaseModel):
    """Graph-level attributes the simulator reads (others are kept unchecked)."""

    model_config = ConfigDict(extra="allow")
    model: Name = ""
    macs: Optional[Count] = None
    config: Optional[dict[str, Any]] = None
    precision: Optional[dict[str, Any]] = None

    @model_validator(mode="after")
    def _batch(self) -> "GraphAttrs":
        if self.config is not None and "effective_batch" in self.config:
            b = self.config["effective_batch"]
            if not isinstance(b, int) or isinstance(b, bool) or not 1 <= b <= MAX_COUNT:
                raise ValueError(f"config.effective_batch must be a positive integer, got {b!r}")
        if self.precision is not None and not isinstance(self.precision.get("policy", ""), str):
            raise ValueError("precision.policy must be a string")
        return self


def _err(where: str, msg: str) -> WorkloadFileError:
    return WorkloadFileError(" ".join(f"{where}: {msg}".split()))


def check_graph_body(body: object, where: str) -> None:
    """Validate the node-link body of a workload file (module docstring); one-line WorkloadFileError."""
    if not isinstance(body, dict) or not isinstance(body.get("nodes"), list) or \
            not isinstance(body.get("edges"), list):
        raise _err(where, "field 'graph' must hold 'nodes' and 'edges' lists")
    if body.get("directed", True) is not True:
        raise _err(where, "graph.directed must be true (a workload is a directed graph)")
    if body.get("multigraph", False) is not False:
        raise _err(where, "graph.multigraph must be false (one edge per pair of nodes)")
    nodes, edges = body["nodes"], body["edges"]
    if not nodes:
        raise _err(where, "the graph has no nodes")
    if len(nodes) > MAX_WORKLOAD_NODES:
        raise _err(where, f"{len(nodes):,} nodes, more than the limit of {MAX_WORKLOAD_NODES:,}")
    if len(edges) > MAX_EDGES_PER_NODE * len(nodes):
        raise _err(where, f"{len(edges):,} edges for {len(nodes):,} nodes (limit {MAX_EDGES_PER_NODE} per node)")
    if not isinstance(body.get("graph", {}), dict):
        raise _err(where, "graph.graph (the graph attributes) must be a mapping")
    try:
        GraphAttrs.model_validate(body.get("graph", {}))
    except ValidationError as e:
        raise WorkloadFileError(validation_message(f"{where}: graph attributes", e)) from None
    attrs: dict[str, NodeAttrs] = {}
    for i, raw in enumerate(nodes):
        if not isinstance(raw, dict):
            raise _err(where, f"nodes[{i}] must be a mapping of attributes")
        nid = raw.get("id")
        label = f"node '{nid}'" if isinstance(nid, str) and len(nid) <= MAX_NAME_CHARS else f"nodes[{i}]"
        missing = [k for k in ("id",) + REQUIRED_NODE_KEYS if k not in raw]
        if missing:
            raise _err(where, f"{label} lacks field(s) {', '.join(missing)}")
        try:
            a = NodeAttrs.model_validate(raw)
        except ValidationError as e:
            raise WorkloadFileError(validation_message(f"{where}: {label}", e)) from None
        if a.id in attrs:
            raise _err(where, f"node id '{a.id}' is listed twice")
        attrs[a.id] = a
    pairs: set[tuple[str, str]] = set()
    g = nx.DiGraph()
    g.add_nodes_from(attrs)
    for i, raw in enumerate(edges):
        if not isinstance(raw, dict):
            raise _err(where, f"edges[{i}] must be a mapping of attributes")
        try:
            e = EdgeAttrs.model_validate(raw)
        except ValidationError as err:
            raise WorkloadFileError(validation_message(f"{where}: edges[{i}]", err)) from None
        for end in (e.source, e.target):
            if end not in attrs:
                raise _err(where, f"edges[{i}] ({e.source} -> {e.target}): node '{end}' is not in the graph")
        if (e.source, e.target) in pairs:
            raise _err(where, f"edges[{i}]: edge {e.source} -> {e.target} is listed twice")
        pairs.add((e.source, e.target))
        g.add_edge(e.source, e.target)
    if not nx.is_directed_acyclic_graph(g):
        raise _err(where, "the graph has a cycle; a workload must be a DAG")
    orders: dict[int, str] = {}
    for n, a in attrs.items():
        if a.order in orders:
            raise _err(where, f"nodes '{orders[a.order]}' and '{n}' have the same order {a.order}")
        orders[a.order] = n
    for u, v in pairs:
        if attrs[u].order >= attrs[v].order:
            raise _err(where, f"edge {u} -> {v} goes against the execution order ({attrs[u].order} -> "
                              f"{attrs[v].order})")
    for n, a in attrs.items():
        if a.sparse_eligible:
            src = attrs.get(a.sparse_source)
            if src is None or src.kind != "activation":
                raise _err(where, f"node '{n}': sparse_source '{a.sparse_source}' is not an activation node of the "
                                  "graph")
            if src.order >= a.order:
                raise _err(where, f"node '{n}': its sparse_source '{a.sparse_source}' runs after it")
    total = sum(a.macs for a in attrs.values())
    declared = (body.get("graph") or {}).get("macs")
    if declared is not None and declared != total:
        raise _err(where, f"graph.macs {declared} is not the sum of the nodes' macs ({total})")
