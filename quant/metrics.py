"""Offline quality metrics for tiny-digits samples.

* **FID (digits classifier features)**: the Frechet distance between Gaussians fitted to the 64-d
  penultimate (post-ReLU) features of the committed digits classifier (``quant.models.DigitsClassifier``).
  It is *not* Inception FID: the numbers are only comparable with each other, and with the
  real-vs-real floor (:func:`real_fid_floor`: two disjoint halves of the digits, ~900 images each).
* **KID**: unbiased squared MMD with the cubic polynomial kernel ``(x.y / d + 1)^3`` on the same
  features, averaged over ``subsets`` random subsets (Binkowski et al. 2018).
* **PSNR vs FP**: ``10 log10(range^2 / MSE)`` over all pixels of the samples and the full-precision
  model's samples from the same noise (deterministic sampler), range = 2 (images in [-1, 1]).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .diffusion import load_digits_images

__all__ = ["classifier_features", "fid", "kid", "psnr", "real_fid_floor"]

_CLF = None


def _classifier():
    global _CLF
    if _CLF is None:
        from .models import load_classifier
        _CLF = load_classifier()
    return _CLF


@torch.no_grad()
def classifier_features(x: torch.Tensor, classifier=None) -> np.ndarray:
    """[N, 64] float64 features of images ``x`` [N, 1, 8, 8] in [-1, 1]."""
    clf = classifier or _classifier()
    return torch.cat([clf.features(x[i:i + 1024].float()) for i in range(0, len(x), 1024)]).double().numpy()


def fid(fa: np.ndarray, fb: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of two feature sets."""
    from scipy import linalg
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    ca, cb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    off = np.eye(len(ca)) * 1e-6  # ridge: dead (always-zero) features make the covariances singular
    covmean = np.real(linalg.sqrtm((ca + off) @ (cb + off)))
    return float(max(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.trace(covmean), 0.0))


def kid(fa: np.ndarray, fb: np.ndarray, subsets: int = 20, subset_size: int = 500, seed: int = 0) -> float:
    """Kernel inception distance (unbiased MMD^2, cubic polynomial kernel), mean over random subsets."""
    rng = np.random.default_rng(seed)
    d = fa.shape[1]
    m = min(subset_size, len(fa), len(fb))
    vals = []
    for _ in range(subsets):
        x = fa[rng.choice(len(fa), m, replace=False)]
        y = fb[rng.choice(len(fb), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                    - 2 * kxy.mean())
    return float(np.mean(vals))


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> float:
    """PSNR in dB over all pixels (``inf`` when identical)."""
    mse = float((a.float() - b.float()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(data_range ** 2 / mse)


def real_fid_floor(seed: int = 0) -> float:
    """FID between two disjoint seeded halves of the real digits (the metric's noise floor)."""
    return fid(classifier_features(load_digits_images("a", seed)), classifier_features(load_digits_images("b", seed)))
