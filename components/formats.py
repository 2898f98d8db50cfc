"""The closed set of number-format names the hardware model knows, in one place.

A format name says how a weight/activation element is stored and which multiplier family executes it.
The quantization package (`quant/`) defines the numerics; here only the names, the element width and
the multiplier family matter (they decide throughput rates, MAC energy and multiplier area).
"""

from __future__ import annotations

from typing import Literal, get_args

FormatName = Literal[
    "fp16",  # IEEE half precision
    "int8",  # plain INT8
    "mxint8",  # OCP microscaling: 32 INT8 elements share one E8M0 scale
    "int4",  # plain INT4, per-tensor scale
    "int4_pc",  # INT4 with a per-channel scale
    "int4_vsq",  # INT4-VSQ: per-vector scaled INT4 (VS-Quant)
    "int4_e4m3",  # INT4 with an FP8 (E4M3) scale per small vector (SQ-DM weights)
    "uint4_e4m3",  # UINT4 (post-ReLU activations) with an FP8 (E4M3) scale per small vector
]
"""Type of a format name; pydantic validates against exactly this set."""

FORMATS: tuple[str, ...] = get_args(FormatName)
"""All format names, in a stable order."""

FormatFamily = Literal["fp16", "int8", "int4"]
"""Multiplier family: the native multiplier datapath a format runs on."""

FORMAT_FAMILY: dict[str, str] = {
    "fp16": "fp16",
    "int8": "int8",
    "mxint8": "int8",
    "int4": "int4",
    "int4_pc": "int4",
    "int4_vsq": "int4",
    "int4_e4m3": "int4",
    "uint4_e4m3": "int4",
}
"""Format name -> multiplier family."""

FAMILY_ELEMENT_BITS: dict[str, int] = {"fp16": 16, "int8": 8, "int4": 4}
"""Bits of one element (without per-vector/per-block scales) per multiplier family."""


FAMILY_ACCUMULATOR_BITS: dict[str, int] = {"fp16": 16, "int8": 32, "int4": 16}
"""Partial-sum (accumulator) width per multiplier family: the accumulators costed in
components/data/energy_28nm.yaml and area_28nm.yaml (FP16 add; 32-bit add for 8-bit products; 16-bit add
for 4x4-bit products). Partial sums that leave the array between folds are stored at this width."""


def accumulator_bits(fmt: str) -> int:
    """Bits of one partial sum of `fmt` (see FAMILY_ACCUMULATOR_BITS)."""
    return FAMILY_ACCUMULATOR_BITS[format_family(fmt)]


def element_bits(fmt: str) -> int:
    """Bits of one element of `fmt`, excluding shared scale factors (those are workload metadata)."""
    return FAMILY_ELEMENT_BITS[format_family(fmt)]


def format_family(fmt: str) -> str:
    """The multiplier family of `fmt`; raises ValueError naming the known formats if unknown."""
    try:
        return FORMAT_FAMILY[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}") from None


assert set(FORMAT_FAMILY) == set(FORMATS), "FORMAT_FAMILY must cover exactly FORMATS"
