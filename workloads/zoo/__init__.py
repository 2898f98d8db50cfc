"""The model zoo: diffusion UNets defined in this repository (no downloaded weights).

Each entry builds a ``torch.nn.Module`` with SiLU or ReLU activations and makes example inputs for a batch.
Large models are built on the ``meta`` device so no weight memory is allocated.

Importing this module does not import torch (nor diffusers): the entries, their specs and ``ZOO`` are plain
data, torch is imported when a model or its inputs are built, so ``sqdm simulate`` on a cached graph
(:mod:`workloads.cache`) starts without it. ``UNet`` is loaded on first use (PEP 562).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..activations import ACTIVATIONS, swap_activation
from ..errors import WorkloadError
from .spec import UNetSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["ModelEntry", "ZOO", "get_model", "list_models", "build_model", "TINY_DIGITS_SPEC"]

# The model the quantization work trains: 8x8 single-channel digits (scikit-learn's bundled set).
TINY_DIGITS_SPEC = UNetSpec(in_channels=1, out_channels=1, model_channels=32, channel_mult=(1, 2),
                            num_blocks=1, attn_resolutions=(4,), resolution=8, emb_mult=4,
                            skip_scale=math.sqrt(0.5), norm_groups=8)

EDM_CIFAR10_SPEC = UNetSpec(in_channels=3, out_channels=3, model_channels=128, channel_mult=(2, 2, 2),
                            num_blocks=4, attn_resolutions=(16,), resolution=32, emb_mult=4,
                            emb_mode="add", skip_scale=math.sqrt(0.5), resample_proj=True, augment_dim=9)

ADM_IMAGENET64_SPEC = UNetSpec(in_channels=3, out_channels=6, model_channels=192, channel_mult=(1, 2, 3, 4),
                               num_blocks=3, attn_resolutions=(32, 16, 8), resolution=64, emb_mult=4,
                               head_channels=64, emb_mode="scale_shift", emb_act_in_block=True,
                               attn_every_decoder_block=True, resample_proj=False, num_classes=1000)

# diffusers configs (google/ddpm-cifar10-32 and runwayml/stable-diffusion-v1-5's unet/config.json),
# written out here so nothing is fetched.
DDPM_CIFAR10_CONFIG = dict(
    sample_size=32, in_channels=3, out_channels=3, block_out_channels=(128, 256, 256, 256), layers_per_block=2,
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6, norm_num_groups=32,
    act_fn="silu", attention_head_dim=None, center_input_sample=False, time_embedding_type="positional")
SD15_CONFIG = dict(
    sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8, act_fn="silu", norm_num_groups=32, norm_eps=1e-5,
    flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, center_input_sample=False)
SD15_TEXT_TOKENS = 77
SD15_TEXT_DIM = 768


@dataclass(frozen=True)
class ModelEntry:
    """One zoo model: how to build it, which resolutions it takes, and how to make its inputs."""

    name: str
    description: str
    default_resolution: int
    resolution_multiple: int
    large: bool
    _build: Callable[[int], nn.Module]
    _inputs: Callable[[int, int, torch.device], tuple]

    def check_resolution(self, resolution: int) -> int:
        """Return ``resolution`` if the model can take it, else raise a one-line WorkloadError."""
        if not isinstance(resolution, int) or resolution <= 0 or resolution % self.resolution_multiple:
            raise WorkloadError(f"{self.name}: resolution {resolution} not supported (must be a positive "
                                f"multiple of {self.resolution_multiple}; default {self.default_resolution})")
        return resolution

    def build(self, activation: str = "silu", resolution: int | None = None,
              device: str | torch.device | None = None) -> nn.Module:
        """Build the network (eval mode). Large models default to the meta device (no weights allocated)."""
        if activation not in ACTIVATIONS:
            raise WorkloadError(f"activation: unknown '{activation}' (choose one of {', '.join(ACTIVATIONS)})")
        res = self.check_resolution(self.default_resolution if resolution is None else resolution)
        import torch
        dev = torch.device(device if device is not None else ("meta" if self.large else "cpu"))
        with dev:
            model = self._build(res)
        if activation != "silu":
            swap_activation(model, activation)
        return model.eval()

    def example_inputs(self, batch: int = 1, resolution: int | None = None,
                       device: str | torch.device = "meta") -> tuple:
        """Inputs for one network evaluation on a batch (classifier-free guidance: pass twice the batch)."""
        if not isinstance(batch, int) or batch <= 0:
            raise WorkloadError(f"{self.name}: batch {batch} must be a positive integer")
        res = self.check_resolution(self.default_resolution if resolution is None else resolution)
        import torch
        return self._inputs(batch, res, torch.device(device))


def _own(spec: UNetSpec) -> Callable[[int], nn.Module]:
    from dataclasses import replace

    def build(res: int) -> nn.Module:
        from .unet import UNet
        return UNet(replace(spec, resolution=res))
    return build


def _own_inputs(spec: UNetSpec, with_labels: bool = False) -> Callable[[int, int, torch.device], tuple]:
    def make(b: int, res: int, dev: torch.device) -> tuple:
        import torch
        x = torch.zeros(b, spec.in_channels, res, res, device=dev)
        t = torch.full((b,), 10.0, device=dev)
        if with_labels:
            return (x, t, torch.zeros(b, dtype=torch.long, device=dev))
        return (x, t)
    return make


def _ddpm(res: int) -> nn.Module:
    from diffusers import UNet2DModel
    return UNet2DModel(**{**DDPM_CIFAR10_CONFIG, "sample_size": res})


def _sd15(res: int) -> nn.Module:
    from diffusers import UNet2DConditionModel
    return UNet2DConditionModel(**{**SD15_CONFIG, "sample_size": res})


def _ddpm_inputs(b: int, res: int, dev: torch.device) -> tuple:
    import torch
    return (torch.zeros(b, 3, res, res, device=dev), torch.full((b,), 10, dtype=torch.long, device=dev))


def _sd15_inputs(b: int, res: int, dev: torch.device) -> tuple:
    import torch
    return (torch.zeros(b, 4, res, res, device=dev), torch.full((b,), 10, dtype=torch.long, device=dev),
            torch.zeros(b, SD15_TEXT_TOKENS, SD15_TEXT_DIM, device=dev))


ZOO: dict[str, ModelEntry] = {e.name: e for e in [
    ModelEntry("ddpm-cifar10", "DDPM CIFAR-10 32x32 UNet (diffusers UNet2DModel, 35.7 M params)", 32, 8, False,
               _ddpm, _ddpm_inputs),
    ModelEntry("edm-cifar10", "EDM DDPM++ 32x32 UNet (128 ch, mult 2-2-2, 4 blocks/level, attn 16x16)", 32, 4,
               False, _own(EDM_CIFAR10_SPEC), _own_inputs(EDM_CIFAR10_SPEC)),
    ModelEntry("adm-imagenet64", "ADM ImageNet 64x64 (192 ch, mult 1-2-3-4, 3 blocks/level, attn 32/16/8)",
               64, 8, True, _own(ADM_IMAGENET64_SPEC), _own_inputs(ADM_IMAGENET64_SPEC, with_labels=True)),
    ModelEntry("sd15-unet", "Stable Diffusion 1.5 UNet, 64x64 latent, cross-attention over 77 text tokens",
               64, 8, True, _sd15, _sd15_inputs),
    ModelEntry("tiny-digits", "Small UNet for 8x8 single-channel digits (trained by quant/)", 8, 2, False,
               _own(TINY_DIGITS_SPEC), _own_inputs(TINY_DIGITS_SPEC)),
]}


def list_models() -> list[str]:
    """Names of the zoo models."""
    return list(ZOO)


def get_model(name: str) -> ModelEntry:
    """The zoo entry called ``name``; an unknown name is a one-line WorkloadError listing the zoo."""
    try:
        return ZOO[name]
    except KeyError:
        raise WorkloadError(f"unknown model '{name}' (zoo: {', '.join(ZOO)})") from None


def build_model(name: str, activation: str = "silu", resolution: int | None = None,
                device: str | torch.device | None = None) -> nn.Module:
    """Build zoo model ``name``; see :meth:`ModelEntry.build`."""
    return get_model(name).build(activation, resolution, device)


def __getattr__(name: str) -> Any:
    if name == "UNet":  # the torch module, imported on first use
        from .unet import UNet
        return UNet
    if name == "unet":  # the submodule, an attribute as when this module imported it
        import importlib
        return importlib.import_module(".unet", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
