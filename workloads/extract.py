"""Extract a workload graph (networkx DiGraph) from any ``torch.nn.Module`` by running it once.

The forward pass runs under a ``TorchDispatchMode`` that sees every ATen operation with its real shapes
(on the meta device no memory is allocated), while module hooks keep the module stack, so each operation
is named after the module that issued it. Views and copies are followed, so a data edge always joins the
operation that computed a tensor to the operations that read it, skip connections included.

Node ids are ``<module path>[#<call>]:<op>[.<n>]``:

* ``<module path>``: dotted path of the innermost module running the op (``root`` for the model's own
  forward), e.g. ``down_blocks.0.resnets.1.conv1``;
* ``#<call>``: the module's call index in this forward, written only from the second call on (diffusers'
  ResNet block calls one activation module three times: ``...nonlinearity``, ``...nonlinearity#1``,
  ``...nonlinearity#2``);
* ``<op>``: the op type (``conv2d``, ``linear``, ``matmul``, ``softmax``, ``group_norm``, ``relu``, ...);
* ``.<n>``: the n-th op of that type inside that module call, written from the second on.

Ids depend only on the model's structure and input shapes, so they are stable across runs and machines.
Attention always runs through the math path (``SDPBackend.MATH``) so its two matmuls and softmax are
separate, countable operations.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

import networkx as nx
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .constants import GRAPH_FORMAT_VERSION, MAC_KINDS  # defined there (torch-free); re-exported here
from .errors import UnsupportedOpError, WorkloadError

__all__ = ["extract_graph", "GRAPH_FORMAT_VERSION", "MAC_KINDS", "op_table"]


aten = torch.ops.aten

# ATen op -> (op type, kind). kind groups ops by the hardware unit that runs them.
_COMPUTE: dict[Any, tuple[str, str]] = {}


def _reg(kind: str, op: str, *packets: Any) -> None:
    for p in packets:
        _COMPUTE[p] = (op, kind)


_reg("conv", "conv2d", aten.convolution)
_reg("linear", "linear", aten.addmm, aten.mm)
_reg("matmul", "matmul", aten.bmm, aten.baddbmm)
_reg("norm", "group_norm", aten.native_group_norm)
_reg("norm", "layer_norm", aten.native_layer_norm)
_reg("softmax", "softmax", aten._softmax, aten._safe_softmax)
for _name in ("relu", "silu", "gelu", "sigmoid", "tanh"):
    _reg("activation", _name, getattr(aten, _name))
for _name in ("add", "sub", "mul", "div", "exp", "sin", "cos", "neg", "rsqrt", "sqrt", "pow", "reciprocal",
              "log", "abs", "clamp", "maximum", "minimum", "rsub", "where"):
    _reg("elementwise", _name, getattr(aten, _name))
for _name in ("add_", "mul_", "div_", "sub_", "relu_", "silu_", "clamp_"):
    _reg("elementwise" if _name[:-1] not in ("relu", "silu") else "activation", _name[:-1], getattr(aten, _name))
_reg("resample", "upsample", aten.upsample_nearest2d, aten.upsample_bilinear2d, aten._upsample_nearest_exact2d)
_reg("resample", "avg_pool", aten.avg_pool2d)
_reg("resample", "max_pool", aten.max_pool2d_with_indices)
_reg("concat", "concat", aten.cat)
_reg("pad", "pad", aten.constant_pad_nd)
_reg("embedding", "embedding", aten.embedding)
_reg("reduce", "mean", aten.mean)

# Ops that move or reinterpret data without arithmetic: the output inherits its input's producer.
_PASSTHROUGH = {getattr(aten, n) for n in (
    "view", "_unsafe_view", "reshape", "t", "transpose", "permute", "unsqueeze", "squeeze", "expand",
    "clone", "contiguous", "slice", "select", "split", "split_with_sizes", "chunk", "unbind", "alias",
    "detach", "_to_copy", "lift_fresh", "flip", "unflatten", "flatten", "as_strided", "narrow",
    "copy", "_reshape_alias", "lift_fresh_copy", "dropout", "native_dropout")}
# Ops that create constants (no data inputs).
_CREATION = {getattr(aten, n) for n in (
    "arange", "ones", "zeros", "full", "empty", "scalar_tensor", "ones_like", "zeros_like", "full_like",
    "empty_like", "empty_strided", "new_zeros", "new_ones", "new_empty", "new_full", "_local_scalar_dense")}


def op_table() -> dict[str, list[str]]:
    """The supported ATen ops by kind (for docs and error messages)."""
    out: dict[str, list[str]] = defaultdict(list)
    for packet, (_, kind) in _COMPUTE.items():
        out[kind].append(str(packet))
    out["passthrough"] = sorted(str(p) for p in _PASSTHROUGH)
    return dict(out)


@dataclass
class _Source:
    """Where a traced tensor came from: a graph node, a parameter, a model input or a constant."""

    kind: str  # "node" | "param" | "input" | "const"
    ref: str


def _shape(t: Any) -> list[int]:
    return [int(s) for s in t.shape]


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


class _Tracer(TorchDispatchMode):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.graph = nx.DiGraph()
        self.src: dict[int, _Source] = {}
        self.alive: list[torch.Tensor] = []  # keeps traced tensors alive so their ids stay unique
        self.stack: list[tuple[str, int]] = [("root", 0)]
        self.calls: dict[str, int] = defaultdict(int)
        self.op_counts: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.param_names: dict[int, str] = {}
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            self.param_names[id(p)] = name
            self.src[id(p)] = _Source("param", name)
        self.param_shapes = {name: _shape(p) for name, p in model.named_parameters()}

    # -- module stack -------------------------------------------------------------------------------
    def push(self, name: str) -> None:
        call = self.calls[name]
        self.calls[name] += 1
        self.stack.append((name, call))

    def pop(self) -> None:
        self.stack.pop()

    # -- tensor bookkeeping -------------------------------------------------------------------------
    def mark(self, t: Any, source: _Source) -> None:
        if isinstance(t, torch.Tensor):
            self.src[id(t)] = source
            self.alive.append(t)

    def source(self, t: torch.Tensor) -> _Source:
        s = self.src.get(id(t))
        if s is None:
            s = _Source("const", "")
            self.mark(t, s)
        return s

    # -- dispatch -----------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        in_tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        out_tensors = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
        if packet in _CREATION or not in_tensors:
            for o in out_tensors:
                self.mark(o, _Source("const", ""))
            return out
        if packet in _PASSTHROUGH:
            first = self.source(in_tensors[0])
            for o in out_tensors:
                self.mark(o, first)
            return out
        if packet not in _COMPUTE:
            module = self.stack[-1][0]
            raise UnsupportedOpError(f"unsupported op {packet} in module '{module}' "
                                     f"(no cost model; supported kinds: {', '.join(sorted(op_table()))})")
        node_id = self.add_node(packet, func, args, in_tensors, out)
        for o in out_tensors:
            self.mark(o, _Source("node", node_id))
        return out

    def _through_zero_preserving(self, producer: str) -> str:
        """Follow nearest-neighbour upsampling back to its input: it copies values, so every channel keeps
        its zero fraction and a ReLU behind it still makes the consumer sparse-eligible."""
        while producer:
            d = self.graph.nodes[producer]
            preds = list(self.graph.predecessors(producer))
            if d["op"] == "upsample" and "nearest" in d["aten"] and len(preds) == 1:
                producer = preds[0]
            else:
                break
        return producer

    def add_node(self, packet: Any, func: Any, args: tuple, in_tensors: list, out: Any) -> str:
        op, kind = _COMPUTE[packet]
        module, call = self.stack[-1]
        counts = self.op_counts[(module, call)]
        n = counts[op]
        counts[op] += 1
        node_id = f"{module}{'#%d' % call if call else ''}:{op}{'.%d' % n if n else ''}"
        outs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
        out_shape = _shape(outs[0])
        operands: list[dict[str, Any]] = []
        for i, t in enumerate(in_tensors):
            s = self.source(t)
            operands.append({"index": i, "source": s.kind, "ref": s.ref, "shape": _shape(t)})
        attrs: dict[str, Any] = {"op": op, "kind": kind, "aten": str(func), "module": module, "call": call,
                                 "output_shape": out_shape, "output_elements": _numel(out_shape)}
        acts = [o for o in operands if o["source"] != "param"]
        params = [o for o in operands if o["source"] == "param"]
        attrs["input_shapes"] = [o["shape"] for o in acts]
        attrs["input_elements"] = sum(_numel(o["shape"]) for o in acts)
        attrs["model_input_elements"] = sum(_numel(o["shape"]) for o in acts if o["source"] == "input")
        attrs["weight_elements"] = sum(_numel(self.param_shapes.get(o["ref"], o["shape"])) for o in params)
        attrs["weight_shape"] = (self.param_shapes.get(params[0]["ref"], params[0]["shape"])
                                 if kind in MAC_KINDS and params else [])
        attrs["params"] = [o["ref"] for o in params]
        attrs.update(_mac_attrs(kind, packet, args, operands, out_shape))
        attrs["sparse_eligible"] = False
        attrs["sparse_source"] = ""
        if kind in MAC_KINDS:
            act = operands[attrs.pop("_act_operand")]
            producer = act["ref"] if act["source"] == "node" else ""
            producer = self._through_zero_preserving(producer)
            if producer and self.graph.nodes[producer]["op"] == "relu":
                attrs["sparse_eligible"] = True
                attrs["sparse_source"] = producer
        else:
            attrs.pop("_act_operand", None)
        attrs["order"] = self.graph.number_of_nodes()
        self.graph.add_node(node_id, **attrs)
        for o in operands:
            if o["source"] == "node":
                u = o["ref"]
                if self.graph.has_edge(u, node_id):
                    self.graph.edges[u, node_id]["operands"].append(o["index"])
                else:
                    self.graph.add_edge(u, node_id, elements=_numel(o["shape"]), operands=[o["index"]])
        return node_id


def _mac_attrs(kind: str, packet: Any, args: tuple, operands: list[dict], out_shape: list[int]) -> dict:
    """MACs, reduction length and the operand that carries activations, for MAC ops; zero otherwise."""
    if kind == "conv":
        x, w = args[0], args[1]
        stride, padding, dilation, transposed, _, groups = args[3:9]
        cin, cout = int(x.shape[1]), int(out_shape[1])
        kh, kw = int(w.shape[2]), int(w.shape[3])
        if transposed:
            macs = _numel(_shape(x)) * (int(w.shape[1])) * kh * kw
        else:
            macs = _numel(out_shape) * (cin // int(groups)) * kh * kw
        return {"macs": macs, "in_channels": cin, "out_channels": cout, "reduction": cin // int(groups) * kh * kw,
                "conv": {"kernel": [kh, kw], "stride": [int(s) for s in stride],
                         "padding": [int(p) for p in padding], "dilation": [int(d) for d in dilation],
                         "groups": int(groups), "transposed": bool(transposed)},
                "_act_operand": 0}
    if kind == "linear":
        i0 = 1 if packet is aten.addmm else 0
        a, b = operands[i0]["shape"], operands[i0 + 1]["shape"]
        m, k, n = a[0], a[1], b[1]
        act = i0 if operands[i0]["source"] != "param" else i0 + 1
        return {"macs": m * k * n, "in_channels": k, "out_channels": n, "reduction": k, "_act_operand": act}
    if kind == "matmul":
        i0 = 1 if packet is aten.baddbmm else 0
        a, b = operands[i0]["shape"], operands[i0 + 1]["shape"]
        bb, m, k, n = a[0], a[1], a[2], b[2]
        return {"macs": bb * m * k * n, "in_channels": k, "out_channels": n, "reduction": k, "_act_operand": i0}
    return {"macs": 0, "in_channels": 0, "out_channels": 0, "reduction": 0}


def _block_of(model: nn.Module, module_path: str) -> str:
    """The UNet block a module belongs to: its top-level child, plus the index inside a container."""
    if module_path == "root":
        return "root"
    parts = module_path.split(".")
    top = getattr(model, parts[0], None)
    if isinstance(top, (nn.ModuleList, nn.ModuleDict, nn.Sequential)) and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def extract_graph(model: nn.Module, example_inputs: Sequence[Any], *, name: str = "custom",
                  config: dict | None = None) -> nx.DiGraph:
    """Run ``model(*example_inputs)`` once and return its workload graph.

    Works for any module whose forward uses supported ATen ops; an unsupported op raises
    :class:`UnsupportedOpError` naming the op and the module path. Put model and inputs on the ``meta``
    device to extract without allocating weights. Nodes carry op type and kind, shapes, MACs, element
    counts, the module path and call, the UNet block and positions (``order``, ``block_index``,
    ``mac_index``, ``mac_index_from_end``) and, for MAC ops, whether the activation input is a ReLU output
    (``sparse_eligible``, ``sparse_source``). Edges carry the element count of the tensor they move and
    ``kind``: ``data`` (consecutive), ``residual`` (inside a block) or ``skip`` (across blocks).
    """
    if not isinstance(model, nn.Module):
        raise WorkloadError(f"extract_graph: expected a torch.nn.Module, got {type(model).__name__}")
    tracer = _Tracer(model)
    handles = []
    for mname, mod in model.named_modules():
        if mname == "":
            continue
        handles.append(mod.register_forward_pre_hook(lambda m, a, _n=mname: tracer.push(_n)))
        handles.append(mod.register_forward_hook(lambda m, a, o: tracer.pop(), always_call=True))
    for t in tree_flatten(tuple(example_inputs))[0]:
        if isinstance(t, torch.Tensor):
            tracer.mark(t, _Source("input", ""))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), tracer:
            model(*example_inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    g = tracer.graph
    if g.number_of_nodes() == 0:
        raise WorkloadError(f"{name}: the forward pass ran no supported operation")
    _annotate(g, model)
    params = sum(p.numel() for p in model.parameters())
    params_by_block: dict[str, int] = defaultdict(int)
    for pname, p in model.named_parameters():
        params_by_block[_block_of(model, pname.rsplit(".", 1)[0] if "." in pname else "root")] += p.numel()
    g.graph.update({
        "format_version": GRAPH_FORMAT_VERSION, "model": name, "config": dict(config or {}),
        "parameters": int(params), "params_by_block": dict(params_by_block),
        "input_shapes": [_shape(t) for t in tree_flatten(tuple(example_inputs))[0] if isinstance(t, torch.Tensor)],
        "macs": int(sum(d["macs"] for _, d in g.nodes(data=True))),
        "torch_version": torch.__version__.split("+")[0],
    })
    return g


def _annotate(g: nx.DiGraph, model: nn.Module) -> None:
    """Blocks, positions and edge kinds, which need the whole graph."""
    blocks: list[str] = []
    nodes = list(g.nodes)
    for n in nodes:
        b = _block_of(model, g.nodes[n]["module"])
        g.nodes[n]["block"] = b
        if b not in blocks:
            blocks.append(b)
    index = {b: i for i, b in enumerate(blocks)}
    macs = [n for n in nodes if g.nodes[n]["kind"] in MAC_KINDS]
    for n in nodes:
        d = g.nodes[n]
        d["block_index"] = index[d["block"]]
        d["mac_index"] = -1
        d["mac_index_from_end"] = -1
    for i, n in enumerate(macs):
        g.nodes[n]["mac_index"] = i
        g.nodes[n]["mac_index_from_end"] = len(macs) - 1 - i
    order = {n: i for i, n in enumerate(nodes)}
    for u, v, d in g.edges(data=True):
        if g.nodes[u]["block"] != g.nodes[v]["block"] and order[v] - order[u] > 1 and \
                g.nodes[u]["block_index"] < g.nodes[v]["block_index"] - 1:
            d["kind"] = "skip"
        elif order[v] - order[u] > 1 and g.nodes[u]["block"] == g.nodes[v]["block"] and \
                g.nodes[v]["kind"] in ("elementwise", "concat"):
            d["kind"] = "residual"
        else:
            d["kind"] = "data"
