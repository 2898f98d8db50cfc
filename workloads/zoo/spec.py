"""The architecture switches of the repository's own UNet (:class:`workloads.zoo.unet.UNet`), in a module
without torch, so the zoo's entries (and ``workloads.ZOO``) load without it; ``workloads.zoo.unet`` re-exports
:class:`UNetSpec`."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["UNetSpec"]


@dataclass(frozen=True)
class UNetSpec:
    """Architecture switches of :class:`UNet`; see the module docstring for what each zoo member sets."""

    in_channels: int = 3
    out_channels: int = 3
    model_channels: int = 128
    channel_mult: tuple[int, ...] = (2, 2, 2)
    num_blocks: int = 4
    attn_resolutions: tuple[int, ...] = (16,)
    resolution: int = 32
    emb_mult: int = 4
    head_channels: int | None = None  # None: one head spanning all channels (EDM); else channels per head
    emb_mode: str = "add"  # "add" (EDM) or "scale_shift" (ADM)
    emb_act_in_block: bool = False  # ADM applies act(emb) inside each block; EDM applies it once
    skip_scale: float = 1.0
    attn_every_decoder_block: bool = False
    resample_proj: bool = True  # 1x1 conv on the skip path of up/down blocks (EDM)
    num_classes: int = 0
    augment_dim: int = 0
    norm_groups: int = 32
    activation: str = "silu"
    dropout: float = 0.0
    extra: dict = field(default_factory=dict)
