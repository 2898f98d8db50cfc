"""Exact rounding helpers for the 8-bit scale formats used by the quantization package.

Two scale encodings appear in the formats of :mod:`quant.formats`:

* **E4M3** (OCP 8-bit Floating Point Specification "OFP8", rev. 1.0, the ``E4M3FN`` flavour also
  exposed by PyTorch as ``torch.float8_e4m3fn``): 1 sign bit, 4 exponent bits with bias 7, 3 mantissa
  bits, subnormals, no infinities, one NaN bit pattern per sign (``S.1111.111``), so the largest finite
  magnitude is ``1.75 * 2**8 = 448``.  It is the per-vector scale of the SQ-DM INT4/UINT4 formats.
* **E8M0** (OCP Microscaling Formats (MX) Specification v1.0, section 5.4.1): an unsigned biased
  exponent (bias 127) with no mantissa, i.e. a power of two ``2**e`` with ``e`` in ``[-127, 127]``
  (code 255 is NaN).  It is the shared block scale of MXINT8.

Both helpers are implemented with plain float arithmetic (``frexp`` and multiplication by powers of
two, all exact) rather than with dtype casts, so the rounding rule is explicit and the same on every
device and for every input dtype; the tests cross-check :func:`round_to_e4m3` against
``torch.float8_e4m3fn`` casts.
"""

from __future__ import annotations

import torch

# --- OCP OFP8 E4M3 (E4M3FN) definition constants -------------------------------------------------
E4M3_EXP_BIAS = 7  # exponent bias (OFP8 spec, table 1)
E4M3_MANT_BITS = 3  # explicit mantissa bits
E4M3_MAX = 448.0  # largest finite value: 2**8 * 1.75 (S.1111.110); S.1111.111 is NaN
E4M3_MIN_NORMAL_EXP = 1 - E4M3_EXP_BIAS  # -6: smallest normal is 2**-6 = 0.015625
E4M3_MIN_NORMAL = 2.0**E4M3_MIN_NORMAL_EXP
E4M3_MIN_SUBNORMAL = 2.0 ** (E4M3_MIN_NORMAL_EXP - E4M3_MANT_BITS)  # 2**-9 = 0.001953125

# --- OCP MX v1.0 E8M0 definition constants -------------------------------------------------------
E8M0_BIAS = 127
E8M0_MIN_EXP = -127  # code 0
E8M0_MAX_EXP = 127  # code 254; code 255 is NaN


def _floor_log2(a: torch.Tensor) -> torch.Tensor:
    """``floor(log2(a))`` for positive finite ``a``, exact (via ``frexp``); int32 tensor.

    ``frexp`` writes ``a = m * 2**p`` with ``m`` in ``[0.5, 1)``, hence ``floor(log2(a)) = p - 1``.
    Entries where ``a == 0`` get an arbitrary value (-1); callers mask them.
    """
    _, p = torch.frexp(a)
    return p - 1


def _pow2(e: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Exact ``2.0**e`` for an integer tensor ``e`` (as long as the result is representable)."""
    return torch.ldexp(torch.ones(e.shape, dtype=dtype, device=e.device), e.to(torch.int32))


def round_to_e4m3(x: torch.Tensor) -> torch.Tensor:
    """Round ``x`` to the nearest E4M3FN value; ties to even; saturate to +-448; returns ``x.dtype``.

    Semantics (OCP OFP8, "saturating" conversion mode):

    * normal range ``[2**-6, 448]``: 3 mantissa bits, quantum ``2**(floor(log2|x|) - 3)``;
    * subnormal range ``(0, 2**-6)``: fixed quantum ``2**-9``; magnitudes up to ``2**-10`` (half the
      smallest subnormal, a tie with 0 whose even neighbour is 0) round to zero;
    * ties go to the neighbour with an even mantissa (IEEE roundTiesToEven), e.g. 17 -> 16, 19 -> 20;
    * magnitudes above 448 saturate to 448 (no infinity exists), including the values in [464, inf)
      that an unsaturated conversion would turn into NaN;
    * the sign is kept (``-0.0`` stays ``-0.0``).

    The input must be finite (this helper does not check; the formats do).  Rounding is done once,
    in the input's precision: unlike ``x.double().to(torch.float8_e4m3fn)``, which goes through float32
    and can double-round (``2**-10 * (1 + 1e-9)`` -> exact tie in float32 -> 0; correct is ``2**-9``).
    The computation is done in float32 (float64 for float64 input) and is exact there; for
    float16/bfloat16 input the result is cast back, which is exact because every E4M3 value (4
    significant bits, magnitudes 2**-9..448) is a normal float16/bfloat16 number.
    """
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xw = x.to(work)
    a = xw.abs()
    e = torch.clamp(_floor_log2(torch.where(a > 0, a, torch.ones_like(a))), min=E4M3_MIN_NORMAL_EXP)
    quantum = _pow2(e - E4M3_MANT_BITS, work)
    y = torch.round(xw / quantum) * quantum  # torch.round: round half to even; /quantum is exact
    y = torch.clamp(y, -E4M3_MAX, E4M3_MAX)
    return y.to(x.dtype)


def e4m3_to_bits(v: torch.Tensor) -> torch.Tensor:
    """Bit patterns (uint8) of values that are already exact E4M3 numbers (e.g. from round_to_e4m3).

    Uses the ``torch.float8_e4m3fn`` storage type, so the patterns are the standard OCP ones
    (``0x7E`` = 448, ``0x01`` = 2**-9, ``0x38`` = 1.0).  Raises ``ValueError`` if a value is not exactly
    representable, which would mean the caller skipped the rounding step.
    """
    f8 = v.to(torch.float8_e4m3fn)
    if not torch.equal(f8.to(v.dtype), v):
        raise ValueError("e4m3_to_bits: values are not exact E4M3 numbers; round them first")
    return f8.view(torch.uint8)


def e4m3_from_bits(bits: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Decode uint8 E4M3FN bit patterns to ``dtype`` (0x7F / 0xFF decode to NaN)."""
    return bits.to(torch.uint8).view(torch.float8_e4m3fn).to(dtype)


def e8m0_shared_exponent(amax: torch.Tensor, emax_elem: int) -> torch.Tensor:
    """OCP MX v1.0 shared block exponent: ``floor(log2(amax)) - emax_elem``, clamped to E8M0's range.

    ``amax`` is the largest magnitude in each block.  A block whose ``amax`` is 0 has no defined
    exponent in the spec; it gets the smallest exponent (-127), and all its elements encode as 0.
    Returns an int32 tensor of unbiased exponents in ``[-127, 127]``; the stored E8M0 code is
    ``exponent + 127``.
    """
    e = _floor_log2(torch.where(amax > 0, amax, torch.ones_like(amax))) - emax_elem
    e = torch.where(amax > 0, e, torch.full_like(e, E8M0_MIN_EXP))
    return torch.clamp(e, E8M0_MIN_EXP, E8M0_MAX_EXP)
