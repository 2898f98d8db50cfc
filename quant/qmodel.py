"""Fake-quantized models: a trained UNet whose conv/linear layers compute with a policy's formats.

:func:`quantize_model` copies the model and, for every conv/linear MAC node of its workload graph:

* **weights** are fake-quantized once (they are static) with the rule's ``weight`` format, using the
  format's default axes (vector formats: vectors along the input channels, see ``quant.formats``);
* **activations** (the layer's input) are fake-quantized on every call by a forward pre-hook with the
  rule's ``act`` format. Axes: ``int4_e4m3``/``uint4_e4m3`` vectors run *inside one channel* (over H*W of
  one channel of one sample; a linear layer's ``[B, C]`` input uses vectors along C), matching
  channel-planar storage and per-channel routing; ``mxint8`` and ``int4_vsq`` vectors run along C (the
  reduction dimension, as in MX / VS-Quant); per-tensor integer formats (``int4``, ``uint4``, ``int8``)
  use a **static scale calibrated per sampling step** (:meth:`QuantizedModel.calibrate`: the largest
  magnitude seen at that step over the calibration trajectories; values beyond saturate).

Attention matmuls are not module calls: for the zoo UNet's ``AttnBlock`` the module's forward is replaced
by a copy that fake-quantizes both operands of both matmuls (operand A with the rule's ``act`` format,
operand B with its ``weight`` format, vectors along the reduction dimension; vector formats and fp16
only). The shipped 4-bit policies run them at MXINT8.

A value that quantizes to zero is exactly ``+0.0``, so the pre-hook is also where the sparsity profiler
counts zeros (:attr:`QuantizedModel.recorder`).
"""
from __future__ import annotations

import copy
import functools
import math
import types
from typing import Callable

import networkx as nx
import torch
from torch import nn

from .errors import QuantError
from .policy import Policy, Rule, load_policy

__all__ = ["QuantizedModel", "quantize_model", "mac_graph", "ActQuantizer"]

_GRAPHS: dict[str, nx.DiGraph] = {}


def mac_graph(activation: str = "relu", model: str = "tiny-digits") -> nx.DiGraph:
    """The (cached) workload graph of a zoo model, batch 1; node ids are what policies match."""
    key = f"{model}:{activation}"
    if key not in _GRAPHS:
        from workloads import build_workload
        _GRAPHS[key] = build_workload(model, activation=activation)
    return _GRAPHS[key]


class ActQuantizer:
    """Quantizes one layer's input with one format; per-tensor integer formats use per-step static scales."""

    def __init__(self, fmt_name: str):
        self.name = fmt_name
        self.fmt = None
        self.static = False
        self.amax: dict[int, float] = {}
        if fmt_name != "fp32":
            from .formats import UniformInt, get_format
            self.fmt = get_format(fmt_name)
            self.static = isinstance(self.fmt, UniformInt) and self.fmt.granularity == "tensor"

    def axis(self, x: torch.Tensor):
        from .formats import VectorE4M3Int
        if isinstance(self.fmt, VectorE4M3Int):
            return tuple(range(2, x.dim())) if x.dim() >= 3 else (1,)
        if self.static or self.fmt.name == "fp16":
            return None
        if getattr(self.fmt, "granularity", None) == "channel":
            return 1
        return 1  # mxint8, int4_vsq: along the channel / reduction dim

    def observe(self, x: torch.Tensor, step: int) -> None:
        if self.static:
            self.amax[step] = max(self.amax.get(step, 0.0), float(x.detach().abs().max()))

    def __call__(self, x: torch.Tensor, step: int | None, fast: bool = True) -> torch.Tensor:
        if self.fmt is None:
            return x
        if self.static:
            if not self.amax:
                raise QuantError(f"activation format {self.name}: not calibrated (call QuantizedModel.calibrate)")
            a = self.amax.get(step) if step is not None else None
            a = max(self.amax.values()) if a is None else a
            if a <= 0:
                return torch.zeros_like(x)
            if fast and x.dtype == torch.float32 and not x.requires_grad:
                return _fast_uniform(x, self.fmt, a / self.fmt.qmax)
            return self.fmt.quantize(x, scale=a / self.fmt.qmax)
        axis = self.axis(x)
        if fast and axis is not None and x.dtype == torch.float32 and not x.requires_grad:
            y = _fast_vector(x, self.fmt, axis)
            if y is not None:
                return y
        return self.fmt.quantize(x, axis)


# -- fast paths ------------------------------------------------------------------------------------------
# The generic ``quant.formats`` code handles any axis, padding, dtype and validates its input; sampling
# thousands of images calls it ~50 times per network evaluation, so the common activation layouts have
# straight-line equivalents here. They perform the same float32 operations in the same order and are
# tested to be bit-identical to ``fmt.quantize`` (tests/quant/test_qmodel.py); anything else falls back.
def _fast_uniform(x: torch.Tensor, fmt, scale: float) -> torch.Tensor:
    s = torch.tensor(scale, dtype=torch.float32)
    xw = torch.clamp(x, min=0) if not fmt.signed else x
    return torch.clamp(torch.round(xw / s), fmt.qmin, fmt.qmax) * s + 0.0


def _fast_vector(x: torch.Tensor, fmt, axis) -> torch.Tensor | None:
    from .formats import VSQInt4, VectorE4M3Int
    from .fp8 import round_to_e4m3
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    if isinstance(fmt, VectorE4M3Int) and not fmt.tensor_scale:
        if x.dim() >= 3 and tuple(axis) == tuple(range(2, x.dim())):
            b, c = x.shape[:2]
            xv = x.reshape(b, c, -1)
        elif x.dim() == 2 and tuple(axis) == (1,):
            b, c = x.shape
            xv = x.reshape(b, 1, c)
        else:
            return None
        n = xv.shape[-1]
        if n % fmt.vector:
            return None
        xv = xv.reshape(xv.shape[0], xv.shape[1], n // fmt.vector, fmt.vector)
        if not fmt.signed:
            xv = torch.clamp(xv, min=0)
        amax = xv.abs().amax(dim=-1, keepdim=True)
        s = round_to_e4m3(amax / fmt.qmax)
        pos = s > 0
        codes = torch.clamp(torch.round(torch.where(pos, xv / torch.where(pos, s, torch.ones_like(s)),
                                                    torch.zeros_like(xv))), fmt.qmin, fmt.qmax)
        return (codes * s + 0.0).reshape(x.shape)
    if isinstance(fmt, VSQInt4) and fmt.second_level == "channel" and fmt.channel_axis == 0 and tuple(axis) == (1,):
        if x.dim() == 4:
            b, c, h, w = x.shape
            xp = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        elif x.dim() == 2:
            b, c = x.shape
            xp = x.reshape(b, 1, c)
        else:
            return None
        if c % fmt.vector:
            return None
        xv = xp.reshape(b, xp.shape[1], c // fmt.vector, fmt.vector)
        s_v = xv.abs().amax(dim=-1) / fmt.qmax
        gamma = s_v.amax(dim=(1, 2), keepdim=True) / (2 ** fmt.scale_bits - 1)
        sd = lambda a, d: torch.where(d > 0, a / torch.where(d > 0, d, torch.ones_like(d)), torch.zeros_like(a))
        q_v = torch.clamp(torch.round(sd(s_v, gamma)), 0, 2 ** fmt.scale_bits - 1)
        s = (q_v * gamma).unsqueeze(-1)
        codes = torch.clamp(torch.round(sd(xv, s)), -fmt.qmax, fmt.qmax)
        y = (codes * s + 0.0).reshape(b, xp.shape[1], c)
        return y.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous() if x.dim() == 4 else y.reshape(b, c)
    return None


class QuantizedModel(nn.Module):
    """A fake-quantized copy of a UNet. ``forward(x, t)`` as the UNet's.

    Attributes: ``net`` (the copied UNet with quantized weights), ``policy``, ``assignments`` (node id ->
    rule for every MAC node), ``node_of_module`` (module path -> node id of its conv/linear node),
    ``recorder`` (``None`` or ``f(node_id, quantized_input)`` called on every quantized layer input).
    """

    def __init__(self, net: nn.Module, policy: Policy, graph: nx.DiGraph):
        super().__init__()
        self.net = net
        self.policy = policy
        self.graph = graph
        self.assignments = policy.assignments(graph)
        self.recorder: Callable[[str, torch.Tensor], None] | None = None
        self.step: int | None = None
        self._calibrating = False
        self.node_of_module: dict[str, str] = {}
        self.act_quant: dict[str, ActQuantizer] = {}
        modules = dict(net.named_modules())
        from .formats import get_format
        attn: dict[str, dict[int, Rule]] = {}
        for n, rule in self.assignments.items():
            d = graph.nodes[n]
            if d.get("kind") == "matmul":
                idx = int(n.rsplit(".", 1)[1]) if n.rsplit(":", 1)[-1].startswith("matmul.") else 0
                attn.setdefault(d.get("module"), {})[idx] = rule
                continue
            mod_path = d.get("module")
            m = modules.get(mod_path)
            if not isinstance(m, (nn.Conv2d, nn.Linear)):
                raise QuantError(f"node '{n}': module '{mod_path}' is not a Conv2d/Linear of this model")
            if int(d.get("call", 0)) != 0 or mod_path in self.node_of_module:
                raise QuantError(f"node '{n}': module '{mod_path}' runs more than once per forward; "
                                 "per-call formats are not supported")
            self.node_of_module[mod_path] = n
            if rule.weight != "fp32":
                with torch.no_grad():
                    m.weight.copy_(get_format(rule.weight).quantize(m.weight))
            aq = ActQuantizer(rule.act)
            self.act_quant[n] = aq
            m.register_forward_pre_hook(self._make_hook(n, aq))

        for mod_path, rules in attn.items():
            m = modules.get(mod_path)
            if type(m).__name__ != "AttnBlock" or set(rules) != {0, 1}:
                raise QuantError(f"matmul nodes of '{mod_path}': only the zoo UNet's AttnBlock (two matmuls) is "
                                 "supported by the fake-quant model")
            if any(r.weight != "fp32" or r.act != "fp32" for r in rules.values()):
                fq = [(_operand_quantizer(rules[i].act, mod_path), _operand_quantizer(rules[i].weight, mod_path))
                      for i in (0, 1)]
                m.forward = types.MethodType(functools.partial(_quant_attn_forward, fq=fq), m)

    def _make_hook(self, node: str, aq: ActQuantizer):
        def hook(module, args):
            x = args[0]
            if self._calibrating:
                aq.observe(x, self.step if self.step is not None else -1)
                return None
            q = aq(x, self.step)
            if self.recorder is not None:
                self.recorder(node, q)
            return (q,) + tuple(args[1:])
        return hook

    def set_step(self, i: int | None) -> None:
        """Tell the model which sampling step runs next (selects per-step calibrated scales)."""
        self.step = i

    def needs_calibration(self) -> bool:
        return any(a.static for a in self.act_quant.values())

    @torch.no_grad()
    def calibrate(self, sampler, noise: torch.Tensor) -> "QuantizedModel":
        """Observe activation ranges over the sampler trajectories started from ``noise`` (weights already
        quantized, activations passed through), then freeze the per-step scales."""
        if not self.needs_calibration():
            return self
        self._calibrating = True
        try:
            sampler.sample(self, noise)
        finally:
            self._calibrating = False
            self.step = None
        for aq in self.act_quant.values():
            if aq.static and -1 in aq.amax:
                del aq.amax[-1]
        return self

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(x, t)


def _operand_quantizer(name: str, where: str):
    """``f(x, axis)`` fake-quantizing a matmul operand along its reduction axis (vector formats, fp16, fp32)."""
    if name == "fp32":
        return lambda x, axis: x
    from .formats import UniformInt, get_format
    fmt = get_format(name)
    if isinstance(fmt, UniformInt):
        raise QuantError(f"matmul nodes of '{where}': format {name} needs a calibrated scale; use a vector format "
                         "(mxint8, int4_e4m3_v16, ...) or fp16 for attention matmuls")
    return lambda x, axis: fmt.quantize(x, None if fmt.name == "fp16" else axis)


def _quant_attn_forward(self, x: torch.Tensor, fq) -> torch.Tensor:
    """``workloads.zoo.unet.AttnBlock.forward`` with both operands of both matmuls fake-quantized.

    Operand A of each matmul takes the rule's ``act`` format, operand B its ``weight`` format, with vectors
    (blocks) along the reduction dimension: ``q^T k`` reduces over the head dimension, ``v w^T`` over the
    pixels.
    """
    b, c, hh, ww = x.shape
    d = c // self.heads
    q, k, v = self.qkv(self.norm(x)).reshape(b * self.heads, 3 * d, hh * ww).split(d, dim=1)
    (qa0, qb0), (qa1, qb1) = fq
    w = torch.softmax(torch.bmm(qa0(q.transpose(1, 2), 2), qb0(k, 1)) * (1.0 / math.sqrt(d)), dim=-1)
    a = torch.bmm(qa1(v, 2), qb1(w.transpose(1, 2), 1)).reshape(b, c, hh, ww)
    x = x + self.proj(a)
    if self.spec.skip_scale != 1.0:
        x = x * self.spec.skip_scale
    return x


def quantize_model(model: nn.Module, policy: "str | Policy | dict", graph: nx.DiGraph | None = None,
                   activation: str | None = None) -> QuantizedModel:
    """A :class:`QuantizedModel` of a deep copy of ``model`` under ``policy``.

    ``graph``: the model's workload graph (default: tiny-digits with the model's activation, detected from
    its modules). Calibrate per-tensor activation formats with :meth:`QuantizedModel.calibrate`.
    """
    pol = load_policy(policy)
    if graph is None:
        if activation is None:
            activation = "relu" if any(isinstance(m, nn.ReLU) for m in model.modules()) else "silu"
        graph = mac_graph(activation)
    net = copy.deepcopy(model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return QuantizedModel(net, pol, graph).eval()
