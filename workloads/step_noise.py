"""The synthetic profile's step-to-step noise: a smooth wander plus white jitter, and its fit.

A measured profile's channels do not jump independently from step to step: after each channel's mean
and linear trend are removed, what is left of its logit is smooth over the steps (the measured
tiny-digits profile: lag-1 correlation 0.66 over 20 steps, against -0.10 for independent steps after the
same detrending) with a small jitter on top. That smoothness is what a per-step detector relies on (step t
is a good guide to step t + 1), so the generator reproduces it, per channel:

    noise[t] = wander[t] + jitter[t]

``jitter ~ N(0, step_noise)`` independent per step; ``wander`` a stationary Gaussian AR(2) series with a
double root ``r`` (``smooth_noise_root``) and standard deviation ``smooth_noise``: autocorrelation
``r^k (1 + k (1 - r^2) / (1 + r^2))`` at lag ``k``, a smooth curve whose excursions last ~``1 / (1 - r)``
steps. Both are defined per sampling step and causal (step t depends on steps <= t only), so the first
steps of a longer profile are the shorter profile.

The fit matches second moments (method of moments, pooled over channels): the spread of the channels'
means, the spread of their slopes, and the lag-0..``MOMENT_LAGS`` sums of the detrended residuals, each
an exact linear function of the four variances (channel spread, drift, wander, jitter) once ``r`` is
fixed; ``r`` is the grid value whose non-negative least-squares solution fits best. The wander's share of
the channel means and slopes is taken out of ``channel_spread`` and ``drift_per_step``, so nothing is
counted twice.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = ["wander_correlation", "add_step_noise", "fit_step_noise", "MOMENT_LAGS", "ROOT_GRID"]

MOMENT_LAGS = 4  # detrended residual moments at lags 0..4 (lag 4 is about where the measured one crosses 0)
ROOT_GRID = np.round(np.arange(0.0, 0.98 + 1e-9, 0.01), 2)  # candidate double roots; 0.98: excursions of ~50 steps


def wander_correlation(steps: int, root: float) -> np.ndarray:
    """The ``steps x steps`` correlation matrix of the AR(2) wander with double root ``root``."""
    lag = np.abs(np.arange(steps)[:, None] - np.arange(steps)[None, :]).astype(np.float64)
    return root ** lag * (1.0 + lag * (1.0 - root * root) / (1.0 + root * root))


def add_step_noise(rows: np.ndarray, rng: np.random.Generator, step_noise: float, smooth_noise: float,
                   root: float) -> np.ndarray:
    """``rows`` (steps x channels, float64) plus the jitter and the wander, drawn from ``rng`` step by
    step (row t's draws come before row t + 1's, so more steps only append draws). With ``smooth_noise
    == 0`` the draws are exactly those of ``rng.normal(0, step_noise, rows.shape)``."""
    steps, channels = rows.shape
    if smooth_noise == 0.0:
        return rows + rng.normal(0, step_noise, size=(steps, channels))
    z = rng.standard_normal(size=(steps, 2, channels))  # per step: the jitter's draw, the wander's innovation
    out = rows + step_noise * z[:, 0]
    rho1 = 2.0 * root / (1.0 + root * root)
    innovation = smooth_noise * math.sqrt((1.0 - root * root) ** 3 / (1.0 + root * root))
    prev2 = smooth_noise * z[0, 1]  # the stationary start: x0 ~ N(0, s), x1 | x0 with correlation rho1
    out[0] += prev2
    if steps > 1:
        prev1 = rho1 * prev2 + smooth_noise * math.sqrt(1.0 - rho1 * rho1) * z[1, 1]
        out[1] += prev1
        for t in range(2, steps):
            cur = 2.0 * root * prev1 - root * root * prev2 + innovation * z[t, 1]
            out[t] += cur
            prev2, prev1 = prev1, cur
    return out


def _nnls(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative least squares for a few unknowns, by trying every set of free unknowns."""
    n = a.shape[1]
    best, best_err = np.zeros(n), float(b @ b)
    for k in range(1, n + 1):
        for free in itertools.combinations(range(n), k):
            sol, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
            if np.all(sol >= 0):
                x = np.zeros(n)
                x[list(free)] = sol
                err = float(np.sum((a @ x - b) ** 2))
                if err < best_err - 1e-15:
                    best, best_err = x, err
    return best, best_err


def fit_step_noise(logits: list[np.ndarray]) -> dict:
    """Fit ``channel_spread``, ``drift_per_step``, ``step_noise``, ``smooth_noise`` and ``smooth_noise_root``
    to per-node logit arrays ``[T, C]`` (the same T), jointly by second moments (module docstring)."""
    steps = logits[0].shape[0]
    t = np.arange(steps, dtype=np.float64) - (steps - 1) / 2.0
    design = np.stack([np.ones(steps), t], axis=1)
    resid_maker = np.eye(steps) - design @ np.linalg.pinv(design)
    mean_w = np.full(steps, 1.0 / steps)
    slope_w = t / float(t @ t) if steps > 1 else np.zeros(steps)
    lags = [np.eye(steps, k=k) for k in range(min(MOMENT_LAGS, steps - 1) + 1)]
    chan_dev, slopes, moments, count = [], [], np.zeros(len(lags)), 0
    for a in logits:
        cm = mean_w @ a
        chan_dev.append(cm - cm.mean())
        slopes.append(slope_w @ a)
        r = resid_maker @ a
        moments += [float(np.sum(r * (lag @ r))) for lag in lags]
        count += a.shape[1]
    v_mean = float(np.var(np.concatenate(chan_dev)))
    v_slope = float(np.var(np.concatenate(slopes)))
    moments /= max(count, 1)
    # rows: channel-mean variance, slope variance, lag moments; columns: channel^2, drift^2, wander^2, jitter^2
    target = np.concatenate([[v_mean, v_slope], moments])
    scale = np.array([v_mean, v_slope] + [moments[0]] * len(moments))
    scale = np.where(scale > 0, scale, 1.0)
    # columns that do not depend on the root: channel spread and drift (each in its own row), the jitter
    fixed = np.zeros((2 + len(lags), 2))
    fixed[0, 0] = fixed[1, 1] = 1.0
    m_w = resid_maker @ resid_maker
    jitter = [mean_w @ mean_w, slope_w @ slope_w] + [float(np.sum(lag * m_w)) for lag in lags]
    best = None
    for root in (ROOT_GRID if steps > 3 else [0.0]):
        s = wander_correlation(steps, float(root))
        m_s = resid_maker @ s @ resid_maker
        wander = [mean_w @ s @ mean_w, slope_w @ s @ slope_w] + [float(np.sum(lag * m_s)) for lag in lags]
        a = np.column_stack([fixed, wander, jitter])
        if root == 0.0:  # a wander without memory is jitter: one column, not two the solver could split
            a[:, 2] = 0.0
        x, err = _nnls(a / scale[:, None], target / scale)
        if best is None or err < best[0] - 1e-12:
            best = (err, float(root), x)
    _, root, (v_chan, v_drift, v_wander, v_jitter) = best
    return {"channel_spread": math.sqrt(v_chan), "drift_per_step": math.sqrt(v_drift),
            "step_noise": math.sqrt(v_jitter), "smooth_noise": math.sqrt(v_wander),
            "smooth_noise_root": root if v_wander > 0 else 0.0}
