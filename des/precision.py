"""Precision of each operation as the hardware sees it, read from a policy-annotated workload graph.

``quant.apply_policy`` writes ``weight_format`` / ``act_format`` (quant format names such as
``int4_e4m3_v16``) and their storage bits on every MAC node. The hardware config names formats by family
(``int4_e4m3``, ``mxint8``, ``fp16``...): this module maps one to the other and picks the format a MAC
runs at (the wider operand decides the multiplier mode: W4A8 runs at the 8-bit rate).
"""
from __future__ import annotations

import re

import networkx as nx

from components import FORMATS
from workloads import MAC_KINDS

__all__ = ["PrecisionError", "hw_format", "mac_format", "tensor_bits", "VECTOR_BITS", "require_annotations"]

# Vector-unit tensors (norm, softmax, elementwise inputs/outputs) are FP16: the vector unit's datapath
# (components/configs/*.yaml, vector_unit: "one FP16 element op per lane per cycle").
VECTOR_BITS = 16.0
_SUFFIX = re.compile(r"(_v\d+|_s\d+|_ts|_pt)+$")
_ALIASES = {"uint4": "int4", "int8_pc": "int8"}


class PrecisionError(ValueError):
    """A graph lacks precision annotations, or names a format no hardware family matches."""


def hw_format(name: str) -> str:
    """The hardware format family of a quant format name (``int4_e4m3_v16_ts`` -> ``int4_e4m3``)."""
    base = _SUFFIX.sub("", name)
    base = _ALIASES.get(base, base)
    if base not in FORMATS:
        raise PrecisionError(f"format '{name}' has no hardware equivalent (hardware formats: {', '.join(FORMATS)})")
    return base


def mac_format(attrs: dict) -> str:
    """The format a MAC node runs at: the wider of its weight and activation formats."""
    w, a = hw_format(attrs["weight_format"]), hw_format(attrs["act_format"])
    bits = int(attrs.get("precision_bits", 0))
    if bits >= 16:
        return "fp16"
    if bits >= 8:
        return w if w in ("mxint8", "int8") else a if a in ("mxint8", "int8") else "int8"
    return w


def tensor_bits(attrs: dict, role: str) -> float:
    """Storage bits per element of a node's ``weight`` or ``act`` operand (vector-unit ops: FP16)."""
    key = "weight_bits" if role == "weight" else "act_bits"
    return float(attrs.get(key, VECTOR_BITS))


def require_annotations(g: nx.DiGraph) -> None:
    """Raise :class:`PrecisionError` unless every MAC node carries its formats."""
    for n, d in g.nodes(data=True):
        if d.get("kind") in MAC_KINDS and "weight_format" not in d:
            raise PrecisionError(f"workload '{g.graph.get('model')}': MAC node '{n}' has no precision annotation "
                                 "(apply a precision policy: --policy NAME)")
