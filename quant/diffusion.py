"""The diffusion process used for ``tiny-digits``: DDPM training objective and a deterministic DDIM sampler.

Choices (documented, see ``docs/quality.md``):

* **Process**: DDPM (Ho et al. 2020) with T = 1000 discrete noise levels and the cosine schedule of Nichol
  & Dhariwal (2021): ``alpha_bar(t) = f(t + 1) / f(0)``, ``f(u) = cos^2(((u / T) + 0.008) / 1.008 * pi / 2)``,
  betas clipped at 0.999. ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``.
* **Network input/output**: the UNet gets ``(x_t, t)`` with ``t`` the integer level as a float in
  ``[0, 999]`` and predicts ``eps`` (noise prediction).
* **Sampler**: DDIM (Song et al. 2021) with eta = 0 (deterministic), ``steps`` network evaluations at
  timesteps ``round(linspace(999, 0, steps))``; the x0 estimate is clipped to ``[-1, 1]``. Each sampling
  step makes exactly **one** network evaluation, which is what a sparsity profile records at that step
  (step index 0 = the noisiest evaluation, t = 999).

Images are scikit-learn's 8x8 digits, values 0..16 scaled to [-1, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

__all__ = ["T_TRAIN", "cosine_alpha_bar", "load_digits_images", "DDIMSampler", "diffusion_loss", "q_sample"]

T_TRAIN = 1000


def cosine_alpha_bar(T: int = T_TRAIN, s: float = 0.008) -> torch.Tensor:
    """``alpha_bar[t]`` for t = 0..T-1 (float64), cosine schedule with betas clipped at 0.999."""
    f = lambda u: math.cos(((u / T) + s) / (1 + s) * math.pi / 2) ** 2
    betas = [min(1 - f(t + 1) / f(t), 0.999) for t in range(T)]
    return torch.cumprod(1 - torch.tensor(betas, dtype=torch.float64), 0)


def load_digits_images(split: str = "all", seed: int = 0) -> torch.Tensor:
    """scikit-learn's digits as a float32 tensor [N, 1, 8, 8] in [-1, 1].

    ``split``: ``"all"`` (1797 images), ``"train"`` / ``"test"`` (a seeded 80/20 split), ``"a"`` / ``"b"``
    (a seeded split into two halves, for the real-vs-real FID floor).
    """
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 8.0 - 1.0
    if split == "all":
        return x
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = {"train": int(0.8 * len(x)), "test": int(0.8 * len(x)), "a": len(x) // 2, "b": len(x) // 2}[split]
    return x[perm[:cut]] if split in ("train", "a") else x[perm[cut:]]


def load_digits_labels(split: str = "all", seed: int = 0) -> torch.Tensor:
    """Labels matching :func:`load_digits_images` for the same split and seed."""
    from sklearn.datasets import load_digits
    y = torch.tensor(load_digits().target, dtype=torch.long)
    if split == "all":
        return y
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(y)) if split in ("train", "test") else len(y) // 2
    return y[perm[:cut]] if split in ("train", "a") else y[perm[cut:]]


def q_sample(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Forward process: ``sqrt(ab_t) x0 + sqrt(1 - ab_t) eps``."""
    ab = alpha_bar[t].float()[:, None, None, None]
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def diffusion_loss(model: torch.nn.Module, x0: torch.Tensor, alpha_bar: torch.Tensor,
                   gen: torch.Generator, teacher: torch.nn.Module | None = None) -> torch.Tensor:
    """Eps-prediction MSE at uniformly drawn levels; with ``teacher``, the target is the teacher's eps
    prediction (distillation) averaged with the true noise."""
    b = x0.shape[0]
    t = torch.randint(0, len(alpha_bar), (b,), generator=gen)
    eps = torch.randn(x0.shape, generator=gen)
    xt = q_sample(x0, t, eps, alpha_bar)
    target = eps
    if teacher is not None:
        with torch.no_grad():
            target = 0.5 * (eps + teacher(xt, t.float()))
    return (model(xt, t.float()) - target).pow(2).mean()


@dataclass
class DDIMSampler:
    """Deterministic DDIM (eta = 0) over ``steps`` evaluations of an eps-prediction network."""

    steps: int = 20
    T: int = T_TRAIN

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or not 1 <= self.steps <= self.T:
            from .errors import QuantError
            raise QuantError(f"sampler: steps={self.steps!r} must be an integer in 1..{self.T}")
        self.alpha_bar = cosine_alpha_bar(self.T)
        self.timesteps = [int(round(v)) for v in np.linspace(self.T - 1, 0, self.steps)]

    def describe(self) -> dict:
        return {"sampler": "ddim", "eta": 0.0, "steps": self.steps, "schedule": "cosine", "T": self.T,
                "timesteps": self.timesteps, "evaluation": "the single eps evaluation of each DDIM step"}

    @torch.no_grad()
    def sample(self, model: torch.nn.Module, noise: torch.Tensor,
               callback: Callable[[int, int, torch.Tensor], None] | None = None,
               batch_size: int = 500) -> torch.Tensor:
        """Run the sampler from ``noise`` [N, C, H, W]; returns x0 in [-1, 1] (float32).

        ``callback(step_index, t, x_t)`` runs before each network evaluation. A model with a
        ``set_step(i)`` method (quantized models with per-step calibration) is told the step index.
        """
        outs = []
        for start in range(0, noise.shape[0], batch_size):
            outs.append(self._sample(model, noise[start:start + batch_size], callback))
        return torch.cat(outs)

    def _sample(self, model, x, callback):
        x = x.float().clone()
        ab = self.alpha_bar
        for i, t in enumerate(self.timesteps):
            if callback is not None:
                callback(i, t, x)
            if hasattr(model, "set_step"):
                model.set_step(i)
            eps = model(x, torch.full((x.shape[0],), float(t)))
            a_t = float(ab[t])
            x0 = ((x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)).clamp(-1, 1)
            if i + 1 < len(self.timesteps):
                a_n = float(ab[self.timesteps[i + 1]])
                eps_hat = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
                x = math.sqrt(a_n) * x0 + math.sqrt(1 - a_n) * eps_hat
            else:
                x = x0
        return x
