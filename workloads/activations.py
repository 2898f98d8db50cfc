"""Swap a model's activation modules (SiLU <-> ReLU), in place.

SQ-DM replaces SiLU by ReLU so activations become non-negative and sparse. Zoo models route every
activation through an ``nn.Module``, so one swap converts a whole network, diffusers' included. GELU
inside transformer feed-forward layers (GEGLU) is left alone: it is not a ResNet activation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import WorkloadError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["swap_activation", "ACTIVATIONS"]

ACTIVATIONS = ("silu", "relu")


def _types() -> "dict[str, type[nn.Module]]":
    from torch import nn  # here, not at module import: ``workloads`` loads without torch (cached graphs)
    return {"silu": nn.SiLU, "relu": nn.ReLU}


def swap_activation(model: nn.Module, to: str) -> int:
    """Replace every SiLU/ReLU module of ``model`` by a fresh ``to`` module; return how many were swapped."""
    types = _types()
    if to not in types:
        raise WorkloadError(f"activation: unknown '{to}' (choose one of {', '.join(ACTIVATIONS)})")
    target = types[to]
    swapped = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, tuple(types.values())) and not isinstance(child, target):
                setattr(parent, name, target())
                swapped += 1
    return swapped
