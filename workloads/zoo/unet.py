"""A compact, configurable diffusion UNet defined in this repository.

One definition covers three zoo members whose published architectures differ only in a few switches:

* ``edm-cifar10``  - EDM's DDPM++ 32x32 network (Karras et al. 2022, "SongUNet" with the DDPM++ settings):
  embedding added before the second norm, skip scale 1/sqrt(2), one attention head, attention only in the
  last decoder block of a level, 1x1 projection on resampling skips.
* ``adm-imagenet64`` - ADM (Dhariwal & Nichol 2021) ImageNet-64: scale-shift norm, 64-channel heads,
  attention in every block at the listed resolutions, class embedding.
* ``tiny-digits`` - a small UNet for 8x8 single-channel digits, trained by the quantization work.

Resampling uses 2x2 average pooling / nearest upsampling, which equal EDM's ``[1, 1]`` resample filter
(a normalised 2x2 box filter) and ADM's resblock up/down, without depthwise-conv plumbing.
Every activation goes through an ``nn.Module`` (``self.act``) so SiLU and ReLU variants differ by one
module type and extraction sees each call.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .spec import UNetSpec  # defined there (torch-free); re-exported here

__all__ = ["UNetSpec", "UNet", "make_activation"]


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module by name ("silu" or "relu")."""
    if name == "silu":
        return nn.SiLU()
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"activation: unknown '{name}' (choose silu or relu)")


class ResBlock(nn.Module):
    """Residual block with optional 2x up/down resampling and an optional attention layer."""

    def __init__(self, spec: UNetSpec, cin: int, cout: int, emb_ch: int, *, up: bool = False,
                 down: bool = False, attention: bool = False) -> None:
        super().__init__()
        self.spec, self.up, self.down = spec, up, down
        g = lambda c: min(spec.norm_groups, c)
        self.norm0 = nn.GroupNorm(g(cin), cin, eps=1e-6)
        self.conv0 = nn.Conv2d(cin, cout, 3, padding=1)
        self.affine = nn.Linear(emb_ch, cout * (2 if spec.emb_mode == "scale_shift" else 1))
        self.norm1 = nn.GroupNorm(g(cout), cout, eps=1e-6)
        self.dropout = nn.Dropout(spec.dropout)
        self.conv1 = nn.Conv2d(cout, cout, 3, padding=1)
        self.act = make_activation(spec.activation)
        needs_skip = cin != cout or ((up or down) and spec.resample_proj)
        self.skip = nn.Conv2d(cin, cout, 1) if needs_skip else None
        self.attn = AttnBlock(spec, cout) if attention else None

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        if self.down:
            return F.avg_pool2d(x, 2)
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:  # decoder blocks concatenate the encoder skip inside the block
            x = torch.cat([x, skip], dim=1)
        h = self.conv0(self._resample(self.act(self.norm0(x))))
        e = self.affine(self.act(emb) if self.spec.emb_act_in_block else emb)[:, :, None, None]
        if self.spec.emb_mode == "scale_shift":
            scale, shift = e.chunk(2, dim=1)
            h = self.norm1(h) * (1 + scale) + shift
        else:
            h = self.norm1(h + e)
        h = self.conv1(self.dropout(self.act(h)))
        x = self._resample(x)
        if self.skip is not None:
            x = self.skip(x)
        x = (h + x)
        if self.spec.skip_scale != 1.0:
            x = x * self.spec.skip_scale
        if self.attn is not None:
            x = self.attn(x)
        return x


class AttnBlock(nn.Module):
    """Self-attention over pixels with explicit matmuls (so both attention matmuls are visible ops)."""

    def __init__(self, spec: UNetSpec, ch: int) -> None:
        super().__init__()
        self.spec = spec
        self.heads = 1 if spec.head_channels is None else max(1, ch // spec.head_channels)
        self.norm = nn.GroupNorm(min(spec.norm_groups, ch), ch, eps=1e-6)
        self.qkv = nn.Conv2d(ch, ch * 3, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        d = c // self.heads
        q, k, v = self.qkv(self.norm(x)).reshape(b * self.heads, 3 * d, hh * ww).split(d, dim=1)
        w = torch.softmax(torch.bmm(q.transpose(1, 2), k) * (1.0 / math.sqrt(d)), dim=-1)  # [bh, n, n]
        a = torch.bmm(v, w.transpose(1, 2)).reshape(b, c, hh, ww)  # [bh, d, n]
        x = x + self.proj(a)
        if self.spec.skip_scale != 1.0:
            x = x * self.spec.skip_scale
        return x


class TimeEmbedding(nn.Module):
    """Sinusoidal noise-level embedding followed by a two-layer MLP (plus optional class/augment terms)."""

    def __init__(self, spec: UNetSpec) -> None:
        super().__init__()
        self.spec = spec
        mc, ec = spec.model_channels, spec.model_channels * spec.emb_mult
        self.lin0 = nn.Linear(mc, ec)
        self.lin1 = nn.Linear(ec, ec)
        self.act = make_activation(spec.activation)
        self.label = nn.Embedding(spec.num_classes, mc) if spec.num_classes else None
        self.augment = nn.Linear(spec.augment_dim, mc, bias=False) if spec.augment_dim else None

    def forward(self, t: torch.Tensor, labels: torch.Tensor | None = None,
                augment: torch.Tensor | None = None) -> torch.Tensor:
        half = self.spec.model_channels // 2
        freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * (-math.log(10000.0) / half))
        args = t.float()[:, None] * freqs[None, :]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
        if self.label is not None and labels is not None:
            emb = emb + self.label(labels)
        if self.augment is not None and augment is not None:
            emb = emb + self.augment(augment)
        emb = self.lin1(self.act(self.lin0(emb)))
        return emb if self.spec.emb_act_in_block else self.act(emb)


class Level(nn.Module):
    """The blocks of one resolution level (encoder or decoder)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()


class UNet(nn.Module):
    """Encoder/decoder UNet with skip connections, built from a :class:`UNetSpec`.

    ``forward(x, t, labels=None, augment=None)`` predicts noise (or the denoised image, per the sampler's
    preconditioning) with the same shape as ``x`` (``out_channels`` channels).
    """

    def __init__(self, spec: UNetSpec) -> None:
        super().__init__()
        self.spec = spec
        mc, emb_ch = spec.model_channels, spec.model_channels * spec.emb_mult
        self.time_embed = TimeEmbedding(spec)
        self.conv_in = nn.Conv2d(spec.in_channels, mc, 3, padding=1)
        skips = [mc]
        ch = mc
        self.down = nn.ModuleList()
        nlev = len(spec.channel_mult)
        for level, mult in enumerate(spec.channel_mult):
            res = spec.resolution >> level
            lv = Level()
            if level > 0:
                lv.blocks.append(ResBlock(spec, ch, ch, emb_ch, down=True))
                skips.append(ch)
            for _ in range(spec.num_blocks):
                lv.blocks.append(ResBlock(spec, ch, mc * mult, emb_ch, attention=res in spec.attn_resolutions))
                ch = mc * mult
                skips.append(ch)
            self.down.append(lv)
        self.mid = nn.ModuleList([ResBlock(spec, ch, ch, emb_ch, attention=True), ResBlock(spec, ch, ch, emb_ch)])
        self.up = nn.ModuleList()
        for level in reversed(range(nlev)):
            mult = spec.channel_mult[level]
            res = spec.resolution >> level
            lv = Level()
            if level < nlev - 1:
                lv.blocks.append(ResBlock(spec, ch, ch, emb_ch, up=True))
            for idx in range(spec.num_blocks + 1):
                attn = res in spec.attn_resolutions and (spec.attn_every_decoder_block or idx == spec.num_blocks)
                lv.blocks.append(ResBlock(spec, ch + skips.pop(), mc * mult, emb_ch, attention=attn))
                ch = mc * mult
            self.up.append(lv)
        self.out_norm = nn.GroupNorm(min(spec.norm_groups, ch), ch, eps=1e-6)
        self.out_act = make_activation(spec.activation)
        self.conv_out = nn.Conv2d(ch, spec.out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                augment: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_embed(t, labels, augment)
        h = self.conv_in(x)
        skips = [h]
        for lv in self.down:
            for blk in lv.blocks:
                h = blk(h, emb)
                skips.append(h)
        for blk in self.mid:
            h = blk(h, emb)
        for lv in self.up:
            for blk in lv.blocks:
                h = blk(h, emb) if blk.up else blk(h, emb, skips.pop())
        return self.conv_out(self.out_act(self.out_norm(h)))
