"""Number formats of the quantization pipeline, as exact fake-quant functions.

Every format is an instance of :class:`Format` with

* ``name`` -- canonical registry name (``get_format(fmt.name)`` rebuilds an equal format);
* ``bits_per_element`` -- storage cost per element **including scales**, see "Scale accounting";
* ``quantize(x, axis=None)`` -- fake quantization: a float tensor of ``x``'s shape and dtype holding the
  dequantized values, differentiable with a straight-through estimator (see below);
* ``encode(x, axis=None)`` / ``decode(enc)`` -- the integer codes and scales that hardware would store
  (``quantize(x) == decode(encode(x))`` exactly, tested).

Formats (paper: /work/shared/PAPER.md, section Quantization):

==================  ==============================================================  ============
name                values                                                          bits/element
==================  ==============================================================  ============
``fp16``            IEEE binary16 cast (round to nearest even)                      16
``int8``            symmetric per-tensor, codes [-127, 127], scale amax/127         8
``int4``            symmetric per-tensor, codes [-7, 7], scale amax/7               4
``int4_pc``         symmetric per-channel (axis 0 default), codes [-7, 7]           4
``uint4``           unsigned per-tensor, codes [0, 15], scale amax/15 or static     4
``int4_e4m3_vV``    weights: codes [-7, 7] x E4M3 scale per V-vector (V=16)         4 + 8/V
``uint4_e4m3_vV``   activations: codes [0, 15] x E4M3 scale per V-vector (V=16)     4 + 8/V
``int4_vsq_vV_sM``  VS-Quant: codes [-7, 7] x M-bit uint vector scale x FP32 scale  4 + M/V
``mxint8``          OCP MX: 32-blocks, INT8 with 6 fraction bits x E8M0 scale       8 + 8/32
==================  ==============================================================  ============

Common rules (all formats)
--------------------------
* **Rounding** is round-half-to-even everywhere (``torch.round``; E4M3 scales, integer codes,
  MX elements), then saturation (clamping) to the code range.
* **Symmetric signed codes never use the most negative code** (-8 for INT4, -128 for INT8/MXINT8), so
  the grid is symmetric around zero and ``quantize(-x) == -quantize(x)``.
* **Zeros**: a value whose code is 0 dequantizes to exactly ``+0.0`` (codes are integers, so a
  ``-0`` rounding result becomes code 0 and then ``+0.0``; only ``fp16`` keeps an input ``-0.0``),
  because activation sparsity is measured on the quantized tensors.  A group (tensor,
  channel, vector, block) whose scale is 0 -- all-zero groups, or scales that underflow their format --
  encodes to all-zero codes and decodes to zeros, never NaN.
* **Invalid input** raises :class:`FormatError` (a ``ValueError``) whose message starts with the
  format name: NaN or inf (``"int4_e4m3_v16: input contains NaN"``), an empty tensor, a non-floating
  dtype, a bad ``axis``.
* **Precision**: computations run in float32 (float64 for float64 input) and the result is cast to
  the input dtype (so bfloat16/float16 inputs get one final rounding of ``code * scale``; for the
  4-bit formats with E4M3 scales and no ``_ts`` the product has at most 7 significant bits and is
  exact in bfloat16).
* **Gradients**: ``quantize`` is a straight-through estimator -- the forward value is the fake-quantized
  tensor, the backward pass hands the incoming gradient to ``x`` unchanged (identity through both the
  rounding and the saturation).  Scales are computed from ``x.detach()`` and get no gradient.

Scale accounting (``bits_per_element``)
---------------------------------------
Scales shared by a whole tensor or a whole channel (FP32 per-tensor / per-channel scales, including the
optional per-tensor FP32 scale of the E4M3 formats and VSQ's per-channel FP32 scale) are counted as
**0 bits per element**: they amortize over thousands of elements (a 32-bit scale over a 3x3x128
channel is 0.03 bit).  Scales shared by a small vector or block are amortized exactly: ``scale_bits /
vector_length``.  The last partial vector of a row is counted at the same rate (padding ignored).

Vector (block) layout
---------------------
For the vector formats, ``axis`` (an int or a tuple of ints) names the dimensions the vectors run
along.  For each index of the *other* dimensions, the elements of the ``axis`` dimensions are
flattened in row-major order (in the order the dims are given), cut into consecutive vectors of V
elements, and the last partial vector is zero-padded (padding never changes a vector's absmax and is
dropped on decode).  Scales are returned with shape ``(*other_dims, n_vectors)`` where ``other_dims``
keeps the original order.  Defaults:

* weight formats (``int4_e4m3``, ``int4_vsq``, ``mxint8``): ``axis=1``, the input-channel dimension of
  a conv weight ``[Cout, Cin, kh, kw]`` or a linear weight ``[out, in]``: one vector is V consecutive
  input channels for one ``(cout, kh, kw)``.  This is a slice of the reduction dimension ``Cin*kh*kw``
  and matches weights stored kernel / output channel / input channel (Cin innermost).  For ``mxint8``
  the same default also suits NCHW activations (blocks along C, the reduction dim of the next conv).
* activation format (``uint4_e4m3``): ``axis=(2, ..., ndim-1)``, i.e. for NCHW the flattened H*W plane
  of one channel of one sample, so every vector lies inside one channel (channel-planar storage and
  per-channel routing to the dense/sparse arrays).  Inputs with fewer than 3 dims need an explicit
  ``axis``.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import nn

from quant.fp8 import (
    E4M3_MAX,
    _pow2,
    e4m3_to_bits,
    e8m0_shared_exponent,
    round_to_e4m3,
)

Axis = Union[int, Sequence[int], None]

E4M3_SCALE_BITS = 8  # OCP OFP8 E4M3 scale width
E8M0_SCALE_BITS = 8  # OCP MX v1.0 E8M0 scale width
MX_BLOCK = 32  # OCP MX v1.0: k = 32 elements per block for all concrete MX formats
MXINT8_FRAC_BITS = 6  # OCP MX v1.0 MXINT8: INT8 two's complement with implicit scale 2**-6
MXINT8_EMAX_ELEM = 0  # OCP MX v1.0: emax of the INT8 element (largest power of two below 2 - 2**-6)
FP16_MAX = 65504.0  # IEEE binary16 largest finite value


class FormatError(ValueError):
    """Invalid format name/parameters or unusable input (NaN, inf, empty, bad axis, negative UINT input).

    The message starts with the format name, e.g. ``"int4_e4m3_v16: input contains NaN"``.
    """


# ------------------------------------------------------------------------------------------------
# Straight-through estimator
# ------------------------------------------------------------------------------------------------
class StraightThrough(torch.autograd.Function):
    """Forward: return the quantized tensor ``q``; backward: pass the gradient to ``x`` unchanged.

    Unlike the common ``x + (q - x).detach()`` idiom, the forward value is exactly ``q``: the idiom
    can land one ulp away from ``q`` when ``q - x`` rounds, and fake-quantized values must stay on the
    format's grid (the tests compare them exactly).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return q.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        return grad, None


def straight_through(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Value ``q`` with the gradient of identity w.r.t. ``x`` (only builds a graph when needed)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return StraightThrough.apply(x, q)
    return q


# ------------------------------------------------------------------------------------------------
# Encoded representation
# ------------------------------------------------------------------------------------------------
@dataclass
class Encoded:
    """Integer codes and scales of a quantized tensor.

    ``codes``: int8 tensor of the input's shape.  ``scale``: the effective float scale per group (a
    0-d tensor per tensor, shape ``[C]`` per channel, ``(*other_dims, n_vectors)`` per vector), so the
    value of an element is ``code * scale_of_its_group``.  ``scale_codes``: the stored scale encoding
    where it is not a float (uint8 E4M3 bit patterns; int32 unbiased E8M0 exponents; VSQ's unsigned
    integer vector scales), else ``None``.  ``tensor_scale`` / ``channel_scale``: second-level FP32
    scales (E4M3 formats with ``tensor_scale=True``; VSQ), else ``None``.
    """

    format_name: str
    codes: torch.Tensor
    scale: torch.Tensor
    axis: tuple[int, ...]
    dtype: torch.dtype
    scale_codes: Optional[torch.Tensor] = None
    tensor_scale: Optional[torch.Tensor] = None
    channel_scale: Optional[torch.Tensor] = None
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------
def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _normalize_axes(name: str, axis: Axis, ndim: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)  # type: ignore[arg-type]
    if len(axes) == 0:
        raise FormatError(f"{name}: axis must name at least one dimension")
    out = []
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool):
            raise FormatError(f"{name}: axis entries must be ints, got {a!r}")
        if not -ndim <= a < ndim:
            raise FormatError(f"{name}: axis {a} out of range for a {ndim}-d tensor")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise FormatError(f"{name}: axis {axes} repeats a dimension")
    return tuple(out)


def _safe_div(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``x / s`` where ``s > 0``, else 0 (groups with a zero scale encode to zero codes)."""
    pos = s > 0
    return torch.where(pos, x / torch.where(pos, s, torch.ones_like(s)), torch.zeros_like(x))


@dataclass
class _VecLayout:
    perm: tuple[int, ...]
    other_shape: tuple[int, ...]
    vec_shape: tuple[int, ...]
    length: int
    n_vectors: int
    vector: int


def _to_vectors(x: torch.Tensor, axes: tuple[int, ...], vector: int) -> tuple[torch.Tensor, _VecLayout]:
    """Reshape ``x`` to ``(*other_dims, n_vectors, vector)``, zero-padding the last partial vector."""
    other = tuple(d for d in range(x.dim()) if d not in axes)
    perm = other + axes
    xp = x.permute(perm)
    other_shape = tuple(x.shape[d] for d in other)
    vec_shape = tuple(x.shape[d] for d in axes)
    length = math.prod(vec_shape)
    n_vec = -(-length // vector)
    flat = xp.reshape(*other_shape, length)
    pad = n_vec * vector - length
    if pad:
        flat = torch.nn.functional.pad(flat, (0, pad))
    return flat.reshape(*other_shape, n_vec, vector), _VecLayout(perm, other_shape, vec_shape, length, n_vec, vector)


def _from_vectors(v: torch.Tensor, lay: _VecLayout) -> torch.Tensor:
    flat = v.reshape(*lay.other_shape, lay.n_vectors * lay.vector)[..., : lay.length]
    xp = flat.reshape(*lay.other_shape, *lay.vec_shape)
    inv = [0] * len(lay.perm)
    for i, p in enumerate(lay.perm):
        inv[p] = i
    return xp.permute(inv).contiguous()


# ------------------------------------------------------------------------------------------------
# Base class
# ------------------------------------------------------------------------------------------------
class Format(ABC):
    """A number format: ``name``, ``bits_per_element`` and exact fake quantization.

    Subclasses implement :meth:`encode` and :meth:`decode`; :meth:`quantize` is
    ``decode(encode(x))`` with a straight-through gradient.
    """

    name: str
    bits_per_element: float

    def __repr__(self) -> str:
        return f"<Format {self.name}: {self.bits_per_element:g} bits/element>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Format) and type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash(self.name)

    def _vectorize(self, x: torch.Tensor, axis: "Axis") -> tuple:
        """Check ``x`` and cut it into vectors of ``self.vector`` along ``axis`` (default 1):
        (axes, working dtype, vectors, layout)."""
        self.check_input(x)
        if axis is None and x.dim() < 2:
            raise FormatError(f"{self.name}: a {x.dim()}-d tensor needs an explicit axis (default is 1)")
        axes = _normalize_axes(self.name, 1 if axis is None else axis, x.dim())
        wd = _work_dtype(x.dtype)
        xv, lay = _to_vectors(x.to(wd), axes, self.vector)
        return axes, wd, xv, lay

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` (message prefixed with the format name) for unusable input."""
        if not isinstance(x, torch.Tensor):
            raise FormatError(f"{self.name}: input must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise FormatError(f"{self.name}: input must be a floating-point tensor, got {x.dtype}")
        if x.numel() == 0:
            raise FormatError(f"{self.name}: input is empty (shape {tuple(x.shape)})")
        if torch.isnan(x).any():
            raise FormatError(f"{self.name}: input contains NaN")
        if torch.isinf(x).any():
            raise FormatError(f"{self.name}: input contains inf")

    @abstractmethod
    def encode(self, x: torch.Tensor, axis: Axis = None) -> Encoded:
        """Integer codes and scales of ``x`` (see :class:`Encoded`)."""

    @abstractmethod
    def decode(self, enc: Encoded) -> torch.Tensor:
        """Dequantized tensor (dtype of the encoded input) from :meth:`encode`'s output."""

    def quantize(self, x: torch.Tensor, axis: Axis = None) -> torch.Tensor:
        """Fake-quantize ``x``: same shape and dtype, values on the format's grid, STE gradient."""
        q = self.decode(self.encode(x.detach(), axis))
        return straight_through(x, q)

    __call__ = quantize


# ------------------------------------------------------------------------------------------------
# FP16
# ------------------------------------------------------------------------------------------------
class FP16(Format):
    """IEEE binary16: ``x.to(float16).to(x.dtype)`` (round to nearest even, subnormals kept).

    Magnitudes that would round to infinity (>= 65520) raise ``ValueError`` instead of producing inf.
    ``encode`` returns the IEEE binary16 bit patterns (as int16) in ``codes`` and a unit ``scale``;
    ``axis`` is ignored.
    """

    name = "fp16"
    bits_per_element = 16.0

    def encode(self, x: torch.Tensor, axis: Axis = None) -> Encoded:
        self.check_input(x)
        h = x.to(torch.float16)
        if torch.isinf(h).any():
            raise FormatError(f"{self.name}: input exceeds the float16 range (|x| > {FP16_MAX:g})")
        return Encoded(self.name, h.view(torch.int16), torch.ones((), dtype=_work_dtype(x.dtype)), (), x.dtype)

    def decode(self, enc: Encoded) -> torch.Tensor:
        return enc.codes.view(torch.float16).to(enc.dtype)


# ------------------------------------------------------------------------------------------------
# Uniform integer, per-tensor or per-channel (INT8, INT4, INT4-per-channel, UINT4 per-tensor)
# ------------------------------------------------------------------------------------------------
class UniformInt(Format):
    """Uniform integer grid with one FP32 scale per tensor or per channel.

    Signed: codes in ``[-(2**(b-1) - 1), 2**(b-1) - 1]`` (``-2**(b-1)`` unused), scale ``amax / qmax``.
    Unsigned (for post-ReLU activations): codes in ``[0, 2**b - 1]`` over ``[0, amax]``; negative input
    raises ``ValueError`` (``negative="error"``, default) or is clamped to 0 (``negative="clamp"``).
    Codes ``= clamp(round_half_even(x / scale))``; value ``= code * scale``.

    ``granularity="tensor"``: ``axis`` must be None.  ``granularity="channel"``: ``axis`` is the channel
    dimension (default 0, Cout of a weight); one scale per index of that dimension, the absmax over all
    other dimensions.  A static scale (from calibration) can be passed to :meth:`quantize` /
    :meth:`encode` as ``scale=`` (per-tensor: a positive float or 0-d tensor; per-channel: a 1-d tensor
    of positive values); values beyond ``qmax * scale`` then saturate.  Scales are FP32 and count as 0
    bits per element.
    """

    def __init__(self, bits: int, signed: bool = True, granularity: str = "tensor", negative: str = "error"):
        if bits not in (2, 3, 4, 5, 6, 7, 8):
            raise FormatError(f"UniformInt: bits must be in 2..8, got {bits}")
        if granularity not in ("tensor", "channel"):
            raise FormatError(f"UniformInt: granularity must be 'tensor' or 'channel', got {granularity!r}")
        if negative not in ("error", "clamp"):
            raise FormatError(f"UniformInt: negative must be 'error' or 'clamp', got {negative!r}")
        self.bits = bits
        self.signed = signed
        self.granularity = granularity
        self.negative = negative
        self.qmin, self.qmax = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        self.name = ("" if signed else "u") + f"int{bits}" + ("_pc" if granularity == "channel" else "")
        self.bits_per_element = float(bits)

    def _check_negative(self, x: torch.Tensor) -> torch.Tensor:
        if self.signed:
            return x
        if self.negative == "error" and (x < 0).any():
            raise FormatError(
                f"{self.name}: input has negative values (min {x.min().item():g}); unsigned formats expect "
                "post-ReLU activations (pass negative='clamp' to clamp them to 0)"
            )
        return torch.clamp(x, min=0)

    def encode(self, x: torch.Tensor, axis: Axis = None, scale: Union[float, torch.Tensor, None] = None) -> Encoded:
        self.check_input(x)
        wd = _work_dtype(x.dtype)
        xw = self._check_negative(x.to(wd))
        if self.granularity == "tensor":
            if axis is not None:
                raise FormatError(f"{self.name}: per-tensor format takes no axis (got {axis!r})")
            axes: tuple[int, ...] = ()
            amax = xw.abs().max()
        else:
            axes = _normalize_axes(self.name, 0 if axis is None else axis, xw.dim())
            if len(axes) != 1:
                raise FormatError(f"{self.name}: per-channel format takes one channel axis, got {axis!r}")
            ch = axes[0]
            amax = xw.abs().transpose(0, ch).reshape(xw.shape[ch], -1).max(dim=1).values
        if scale is None:
            s = amax / self.qmax
        else:
            s = torch.as_tensor(scale, dtype=wd, device=x.device).detach()
            if s.shape != amax.shape:
                raise FormatError(f"{self.name}: static scale has shape {tuple(s.shape)}, expected {tuple(amax.shape)}")
            if not (torch.isfinite(s).all() and (s > 0).all()):
                raise FormatError(f"{self.name}: static scale must be positive and finite")
        sb = s if not axes else s.reshape([-1 if d == axes[0] else 1 for d in range(xw.dim())])
        codes = torch.clamp(torch.round(_safe_div(xw, sb)), self.qmin, self.qmax)
        return Encoded(self.name, codes.to(torch.int8), s, axes, x.dtype)

    def decode(self, enc: Encoded) -> torch.Tensor:
        s = enc.scale
        if enc.axis:
            s = s.reshape([-1 if d == enc.axis[0] else 1 for d in range(enc.codes.dim())])
        return (enc.codes.to(s.dtype) * s).to(enc.dtype)

    def quantize(
        self, x: torch.Tensor, axis: Axis = None, scale: Union[float, torch.Tensor, None] = None
    ) -> torch.Tensor:
        """Fake-quantize; ``scale`` optionally fixes the (calibrated) scale instead of ``amax/qmax``."""
        q = self.decode(self.encode(x.detach(), axis, scale=scale))
        return straight_through(x, q)

    __call__ = quantize


# ------------------------------------------------------------------------------------------------
# INT4 / UINT4 with an E4M3 scale per vector (SQ-DM)
# ------------------------------------------------------------------------------------------------
class VectorE4M3Int(Format):
    """4-bit integers with one OCP E4M3 scale per vector of ``vector`` elements (SQ-DM's format).

    For each vector: ``s = round_to_e4m3(amax / qmax)`` (round half to even; saturates at 448; scales
    below 2**-10 round to 0, and the vector then encodes to zeros), ``code = clamp(round_half_even(x /
    s), qmin, qmax)``, value ``= code * s``.  Because ``s`` is rounded to nearest, it can be slightly
    smaller than ``amax / qmax``; the largest element then saturates to ``qmax`` (clamped, not
    overflowed).  Weights (``signed=True``): codes in ``[-7, 7]`` (-8 unused).  Activations
    (``signed=False``): codes in ``[0, 15]`` over ``[0, amax]``; negative input raises ``ValueError``
    (``negative="clamp"`` clamps it to 0 instead).

    ``tensor_scale=True`` (name suffix ``_ts``, off by default) adds an FP32 per-tensor scale
    ``g = amax_tensor / (qmax * 448)`` so the largest vector scale lands on E4M3's maximum and the
    vector scales use E4M3's full 4-bit exponent range instead of its subnormals: ``s =
    round_to_e4m3(amax_v / (qmax * g))``, value ``= code * s * g``.  Without it small weights
    (vector amax < 7 * 2**-6 = 0.11) get subnormal, coarse E4M3 scales; with it the format is like
    NVFP4's two-level scaling.  ``g`` counts as 0 bits per element.

    ``bits_per_element = 4 + 8 / vector``.  See the module docstring for the vector layout and the
    default axes (weights: axis 1; activations: all dims after the channel dim).
    """

    def __init__(self, signed: bool, vector: int = 16, tensor_scale: bool = False, negative: str = "error"):
        if not isinstance(vector, int) or vector < 1:
            raise FormatError(f"vector length must be a positive int, got {vector!r}")
        if negative not in ("error", "clamp"):
            raise FormatError(f"negative must be 'error' or 'clamp', got {negative!r}")
        self.signed = signed
        self.vector = vector
        self.tensor_scale = bool(tensor_scale)
        self.negative = negative
        self.qmin, self.qmax = (-7, 7) if signed else (0, 15)
        self.name = ("int4" if signed else "uint4") + f"_e4m3_v{vector}" + ("_ts" if self.tensor_scale else "")
        self.bits_per_element = 4.0 + E4M3_SCALE_BITS / vector

    def default_axis(self, ndim: int) -> tuple[int, ...]:
        """Weights: (1,) -- Cin of [Cout, Cin, ...]; activations: (2, ..., ndim-1) -- one channel plane."""
        if self.signed:
            if ndim < 2:
                raise FormatError(f"{self.name}: a {ndim}-d tensor needs an explicit axis (default is 1)")
            return (1,)
        if ndim < 3:
            raise FormatError(
                f"{self.name}: a {ndim}-d tensor needs an explicit axis (default is the spatial dims 2.. of N,C,...)"
            )
        return tuple(range(2, ndim))

    def encode(self, x: torch.Tensor, axis: Axis = None) -> Encoded:
        self.check_input(x)
        wd = _work_dtype(x.dtype)
        axes = self.default_axis(x.dim()) if axis is None else _normalize_axes(self.name, axis, x.dim())
        xw = x.to(wd)
        if not self.signed:
            if self.negative == "error" and (xw < 0).any():
                raise FormatError(
                    f"{self.name}: input has negative values (min {xw.min().item():g}); UINT4 expects post-ReLU "
                    "activations (pass negative='clamp' to clamp them to 0)"
                )
            xw = torch.clamp(xw, min=0)
        xv, lay = _to_vectors(xw, axes, self.vector)
        amax = xv.abs().amax(dim=-1)
        g = None
        if self.tensor_scale:
            g = amax.max() / (self.qmax * E4M3_MAX)
            s_e4m3 = round_to_e4m3(_safe_div(amax / self.qmax, g))
            s = s_e4m3 * g
        else:
            s_e4m3 = round_to_e4m3(amax / self.qmax)
            s = s_e4m3
        codes = torch.clamp(torch.round(_safe_div(xv, s.unsqueeze(-1))), self.qmin, self.qmax)
        return Encoded(
            self.name,
            _from_vectors(codes, lay).to(torch.int8),
            s,
            axes,
            x.dtype,
            scale_codes=e4m3_to_bits(s_e4m3),
            tensor_scale=g,
        )

    def decode(self, enc: Encoded) -> torch.Tensor:
        cv, lay = _to_vectors(enc.codes.to(enc.scale.dtype), enc.axis, self.vector)
        return _from_vectors(cv * enc.scale.unsqueeze(-1), lay).to(enc.dtype)


# ------------------------------------------------------------------------------------------------
# OCP MXINT8
# ------------------------------------------------------------------------------------------------
class MXInt8(Format):
    """OCP Microscaling MXINT8 (MX spec v1.0): blocks of 32 elements, one E8M0 scale per block.

    Element: INT8 two's complement read as fixed point with 6 fraction bits (implicit scale 2**-6, so
    range [-2, 2 - 2**-6]); the element's emax is 0.  Per block (spec section 6.3 conversion):
    shared exponent ``e = floor(log2(amax)) - 0`` clamped to E8M0's [-127, 127] (all-zero block: e =
    -127); ``code = clamp(round_half_even(x / 2**e * 64), -127, 127)``; value ``= code * 2**(e - 6)``.
    Since ``amax / 2**e`` lies in [1, 2), the largest element uses codes 64..127 and saturates at 127
    (=1.984375) when it would round to 128.  Code -128 (= -2.0) is valid in the spec but never
    produced, keeping the grid symmetric (as in Microsoft's reference emulator "microxcaling").
    ``scale_codes`` holds the unbiased exponents ``e`` (stored E8M0 byte = e + 127).
    ``bits_per_element = 8 + 8/32 = 8.25``.  Default axis 1 (see module docstring).
    """

    def __init__(self, block: int = MX_BLOCK):
        if not isinstance(block, int) or block < 1:
            raise FormatError(f"mxint8: block size must be a positive int, got {block!r}")
        self.vector = block
        self.name = "mxint8" if block == MX_BLOCK else f"mxint8_v{block}"
        self.bits_per_element = 8.0 + E8M0_SCALE_BITS / block

    def encode(self, x: torch.Tensor, axis: Axis = None) -> Encoded:
        axes, wd, xv, lay = self._vectorize(x, axis)
        amax = xv.abs().amax(dim=-1)
        e = e8m0_shared_exponent(amax, MXINT8_EMAX_ELEM)
        step = _pow2(e - MXINT8_FRAC_BITS, wd)  # value of one code unit in this block
        codes = torch.clamp(torch.round(xv / step.unsqueeze(-1)), -127, 127)
        return Encoded(self.name, _from_vectors(codes, lay).to(torch.int8), step, axes, x.dtype, scale_codes=e)

    def decode(self, enc: Encoded) -> torch.Tensor:
        cv, lay = _to_vectors(enc.codes.to(enc.scale.dtype), enc.axis, self.vector)
        return _from_vectors(cv * enc.scale.unsqueeze(-1), lay).to(enc.dtype)


# ------------------------------------------------------------------------------------------------
# INT4-VSQ (Dai et al., "VS-Quant", MLSys 2021), two-level scale
# ------------------------------------------------------------------------------------------------
class VSQInt4(Format):
    """Per-vector scaled INT4 with a two-level scale (VS-Quant, Dai et al. 2021).

    Per vector ``v`` (layout as the other vector formats, default axis 1): the ideal scale
    ``s_v = amax_v / 7``.  Per channel (``second_level="channel"``, channel dim ``channel_axis``,
    default 0 = Cout) or per tensor (``"tensor"``), an FP32 scale ``gamma = max(s_v) / (2**M - 1)``
    over the vectors of that channel/tensor.  The vector's stored scale is the unsigned M-bit integer
    ``q_v = clamp(round_half_even(s_v / gamma), 0, 2**M - 1)``; codes ``= clamp(round_half_even(x /
    (q_v * gamma)), -7, 7)``; value ``= code * q_v * gamma``.  A vector whose ``q_v`` rounds to 0 (tiny
    next to the channel's largest vector) encodes to zeros.  ``bits_per_element = 4 + M / vector``
    (``gamma`` counts 0).  Defaults ``vector=16``, ``scale_bits=6``: VS-Quant studies several
    vector-scale widths and the SQ-DM paper does not give its baseline's settings, so both are
    parameters (e.g. ``int4_vsq_v16_s4`` = 4.25 bits/element).
    """

    def __init__(self, vector: int = 16, scale_bits: int = 6, second_level: str = "channel", channel_axis: int = 0):
        if not isinstance(vector, int) or vector < 1:
            raise FormatError(f"int4_vsq: vector length must be a positive int, got {vector!r}")
        if not isinstance(scale_bits, int) or not 1 <= scale_bits <= 16:
            raise FormatError(f"int4_vsq: scale_bits must be an int in 1..16, got {scale_bits!r}")
        if second_level not in ("channel", "tensor"):
            raise FormatError(f"int4_vsq: second_level must be 'channel' or 'tensor', got {second_level!r}")
        self.vector = vector
        self.scale_bits = scale_bits
        self.second_level = second_level
        self.channel_axis = channel_axis
        self.qmax = 7
        self.name = f"int4_vsq_v{vector}_s{scale_bits}" + ("_pt" if second_level == "tensor" else "")
        self.bits_per_element = 4.0 + scale_bits / vector

    def encode(self, x: torch.Tensor, axis: Axis = None) -> Encoded:
        axes, wd, xv, lay = self._vectorize(x, axis)
        s_v = xv.abs().amax(dim=-1) / self.qmax  # shape (*other, n_vec)
        smax_code = 2**self.scale_bits - 1
        if self.second_level == "tensor":
            gamma = s_v.max() / smax_code
            gamma_b = gamma
        else:
            ch = _normalize_axes(self.name, self.channel_axis, x.dim())[0]
            if ch in axes:
                raise FormatError(f"{self.name}: channel_axis {self.channel_axis} is one of the vector axes {axes}")
            other = [d for d in range(x.dim()) if d not in axes]
            pos = other.index(ch)
            red = [d for d in range(s_v.dim()) if d != pos]
            gamma_b = s_v.amax(dim=red, keepdim=True) / smax_code
            gamma = gamma_b.reshape(-1)
        q_v = torch.clamp(torch.round(_safe_div(s_v, gamma_b)), 0, smax_code)
        s = q_v * gamma_b
        codes = torch.clamp(torch.round(_safe_div(xv, s.unsqueeze(-1))), -self.qmax, self.qmax)
        return Encoded(
            self.name,
            _from_vectors(codes, lay).to(torch.int8),
            s,
            axes,
            x.dtype,
            scale_codes=q_v.to(torch.int32),
            channel_scale=gamma,
        )

    def decode(self, enc: Encoded) -> torch.Tensor:
        cv, lay = _to_vectors(enc.codes.to(enc.scale.dtype), enc.axis, self.vector)
        return _from_vectors(cv * enc.scale.unsqueeze(-1), lay).to(enc.dtype)


# ------------------------------------------------------------------------------------------------
# Modules
# ------------------------------------------------------------------------------------------------
class FakeQuantize(nn.Module):
    """``nn.Module`` wrapper: ``forward(x) = fmt.quantize(x, axis)`` (STE gradient)."""

    def __init__(self, fmt: Union[Format, str], axis: Axis = None, **params: Any):
        super().__init__()
        self.fmt = get_format(fmt, **params) if isinstance(fmt, str) else fmt
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.fmt.quantize(x, self.axis)

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.fmt.name}, axis={self.axis}"


class CalibratedQuantizer(nn.Module):
    """Per-tensor quantizer with a static scale found by calibration (e.g. one module per time step).

    Usage: ``q.calibrate()``; run calibration batches (forward returns ``x`` unchanged and records the
    running maximum of ``|x|`` in the buffer ``amax``); ``q.calibrate(False)``; afterwards forward
    quantizes with the fixed scale ``amax / qmax`` (values above ``amax`` saturate).  Quantizing before
    any calibration data was seen raises ``RuntimeError``; a calibrated ``amax`` of 0 gives all-zero
    output.  ``fmt`` is a per-tensor :class:`UniformInt` (default ``uint4``) or its registry name.
    """

    def __init__(self, fmt: Union[UniformInt, str] = "uint4"):
        super().__init__()
        f = get_format(fmt) if isinstance(fmt, str) else fmt
        if not isinstance(f, UniformInt) or f.granularity != "tensor":
            raise FormatError(f"CalibratedQuantizer needs a per-tensor integer format, got {f!r}")
        self.fmt = f
        self.calibrating = False
        self.register_buffer("amax", torch.zeros(()))
        self.register_buffer("observed", torch.zeros((), dtype=torch.bool))

    def calibrate(self, enabled: bool = True) -> "CalibratedQuantizer":
        """Switch calibration mode on (observe, pass through) or off (quantize with the frozen scale)."""
        self.calibrating = enabled
        return self

    def reset(self) -> None:
        """Forget the observed range."""
        self.amax.zero_()
        self.observed.fill_(False)

    @property
    def scale(self) -> torch.Tensor:
        """The static scale ``amax / qmax``."""
        return self.amax / self.fmt.qmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.calibrating:
            self.fmt.check_input(x)
            self.amax.copy_(torch.maximum(self.amax, x.detach().abs().max().to(self.amax.dtype)))
            self.observed.fill_(True)
            return x
        if not bool(self.observed):
            raise RuntimeError(f"CalibratedQuantizer({self.fmt.name}): not calibrated; call calibrate() first")
        if float(self.amax) == 0.0:
            self.fmt.check_input(x)
            return straight_through(x, torch.zeros_like(x.detach()))
        return self.fmt.quantize(x, scale=self.scale)


# ------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------
_FACTORIES: dict[str, Callable[..., Format]] = {
    "fp16": lambda: FP16(),
    "int8": lambda: UniformInt(8, signed=True, granularity="tensor"),
    "int8_pc": lambda: UniformInt(8, signed=True, granularity="channel"),
    "int4": lambda: UniformInt(4, signed=True, granularity="tensor"),
    "int4_pc": lambda: UniformInt(4, signed=True, granularity="channel"),
    "uint4": lambda **kw: UniformInt(4, signed=False, granularity="tensor", **kw),
    "int4_e4m3": lambda **kw: VectorE4M3Int(signed=True, **kw),
    "uint4_e4m3": lambda **kw: VectorE4M3Int(signed=False, **kw),
    "int4_vsq": lambda **kw: VSQInt4(**kw),
    "mxint8": lambda **kw: MXInt8(**kw),
}
# Name suffix tokens accepted by each base name, mapped to constructor keywords.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "int4_e4m3": ("v", "ts"),
    "uint4_e4m3": ("v", "ts"),
    "int4_vsq": ("v", "s", "pt"),
    "mxint8": ("v",),
}
_TOKEN = re.compile(r"^(v\d+|s\d+|ts|pt)$")

FORMAT_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def get_format(name: str, **params: Any) -> Format:
    """Build a format from its name, e.g. ``get_format("int4_e4m3_v16")``, ``get_format("int4_e4m3",
    vector=32)``, ``get_format("int4_vsq_v16_s4")``, ``get_format("uint4_e4m3_v16_ts")``.

    Suffix tokens after a base name: ``_v<N>`` vector/block length, ``_s<M>`` VSQ vector-scale bits,
    ``_ts`` per-tensor FP32 second-level scale (E4M3 formats), ``_pt`` VSQ per-tensor second level.
    Keyword ``params`` go to the constructor; a keyword that contradicts the name raises ``ValueError``.
    Unknown names raise ``ValueError`` listing the known base names.
    """
    if not isinstance(name, str):
        raise FormatError(f"format name must be a str, got {name!r}")
    key = name.strip().lower()
    base = key if key in _FACTORIES else None
    tokens: list[str] = []
    if base is None:
        for b in sorted(_SUFFIXES, key=len, reverse=True):
            if key.startswith(b + "_"):
                tokens = key[len(b) + 1 :].split("_")
                if all(_TOKEN.match(t) for t in tokens):
                    base = b
                break
    if base is None:
        raise FormatError(f"unknown format {name!r}; known formats: {', '.join(FORMAT_NAMES)} "
                         "(vector formats accept suffixes like _v32, e.g. int4_e4m3_v32)")
    from_name: dict[str, Any] = {}
    for t in tokens:
        kind = "ts" if t == "ts" else "pt" if t == "pt" else t[0]
        if kind not in _SUFFIXES.get(base, ()):
            raise FormatError(f"unknown format {name!r}: suffix '_{t}' is not valid for {base}")
        kw, val = {"v": ("block" if base == "mxint8" else "vector", None), "s": ("scale_bits", None),
                   "ts": ("tensor_scale", True), "pt": ("second_level", "tensor")}[kind]
        if kw in from_name:
            raise FormatError(f"unknown format {name!r}: suffix '_{t}' repeats a parameter")
        from_name[kw] = int(t[1:]) if val is None else val
    for k, v in from_name.items():
        if k in params and params[k] != v:
            raise FormatError(f"format {name!r}: keyword {k}={params[k]!r} contradicts the name ({k}={v!r})")
    try:
        return _FACTORIES[base](**{**params, **from_name})
    except TypeError as exc:
        raise FormatError(f"format {name!r}: bad parameters {sorted(params)}: {exc}") from None
