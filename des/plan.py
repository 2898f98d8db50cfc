"""The step-independent plan of one graph node (sizes, traffic, tiling) and the op -> cost-model table.

Kept apart from the tiling search (:mod:`des.mapping`) so that the tile description (:mod:`des.work`) and
the search can both use it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .precision import VECTOR_BITS

__all__ = ["NodePlan", "VECTOR_KIND_OF", "vector_kind", "NoCostModelError"]

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
    # the tensors of ops fused into this node's write-back (a ReLU, a bias add) that go to DRAM: written
    # here, since a fused op has no pass of its own; their bits per element
    fused_out_dram_bytes: float = 0.0
    fused_out_bits: float = 0.0
    # the second operands of residual adds fused into the write-back (rule 7 of des.residency): bytes read from
    # the buffer (as stored), of them first read from DRAM, and their bits per element
    fused_in_bytes: float = 0.0
    fused_in_dram_bytes: float = 0.0
    fused_in_bits: float = 0.0
    bands: int = 1
    chunks: int = 1
    tile_footprint_bytes: float = 0.0  # held by one tile (weight chunk + output slice)
    band_bytes: float = 0.0  # input band, held from a band's first tile to its last
    vector_kind: str = ""
    vector_elements: int = 0
    sparse_eligible: bool = False
    sparse_source: str = ""
    new_input_fraction: float = 1.0  # share of a sliding window that is new at the next output position
    prefetched_weight_bytes: float = 0.0  # first tile's weights, loaded while ``prefetch_host`` runs
    prefetch_host: str = ""
    estimate_cycles: float = 0.0  # the tiling search's pipelined estimate of the chosen tiling
    estimate_dram_cycles: float = 0.0  # ... and its DRAM busy time (the rest is free for a prefetch)


    @property
    def tiles(self) -> int:
        return self.bands * self.chunks

    def prefetch_bytes_at(self, first_eval: bool) -> float:
        """Bytes of this node's first weight chunk its host prefetches at a step: every step when the
        weights are streamed, only the run's first evaluation when they are resident (loaded once)."""
        if self.weight_dram_bytes_per_band > 0 or (first_eval and self.weight_first_eval_bytes > 0):
            return self.prefetched_weight_bytes
        return 0.0




class NoCostModelError(ValueError):
    """A graph op the simulator has no cost model for (never silently costed as something else)."""


def vector_kind(node: str, op: str) -> str:
    """The vector-unit cost kind of graph op ``op``; :class:`NoCostModelError` naming the node if none."""
    try:
        return VECTOR_KIND_OF[op]
    except KeyError:
        raise NoCostModelError(f"node '{node}': op '{op}' has no cost model (vector-unit ops: "
                               f"{', '.join(sorted(VECTOR_KIND_OF))})") from None
