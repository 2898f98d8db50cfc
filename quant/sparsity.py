"""Per-step activation sparsity of a (quantized) ReLU model, measured by running the real sampler.

:func:`profile_sparsity` hooks every sparse-eligible conv/linear node of the tiny-digits workload graph
(its input is a ReLU output), runs the deterministic DDIM sampler and records, for every sampling step
(the one network evaluation of that step) and every input channel, the fraction of that layer's input
values that are exactly zero **after activation quantization** (a value that quantizes to zero is a
zero). The tile variant counts, per group of ``G`` consecutive channels, the fraction of positions
(sample, pixel) where all ``G`` channels are zero (what a tile-skipping array can skip).

The result is a ``workloads.SparsityProfile`` (``kind="measured"``) that attaches to the graph; its
``info`` records the sampler, steps, seed, samples, policy, the MAC-weighted mean and the parameters of
``workloads.synthetic_profile`` fitted to it (``fitted_synthetic``, by ``workloads.fit_synthetic_profile``,
re-exported here as :func:`fit_synthetic`; and
``fitted_synthetic_conv_only``, the fit over the convolutions alone: the linear layers' inputs are the
time embedding, one value per channel and step, so their zero fractions are 0 or 1 and dominate the
spreads of the all-node fit).
"""
from __future__ import annotations

import math

import networkx as nx
import numpy as np
import torch
from torch import nn

from workloads.profile import fit_synthetic_profile as fit_synthetic  # the one fit, next to its generator

from .diffusion import DDIMSampler
from .errors import QuantError
from .qmodel import QuantizedModel, mac_graph, quantize_model

__all__ = ["profile_sparsity", "fit_synthetic", "ZeroCounter", "CALIBRATION_SEED", "calibration_noise"]

CALIBRATION_SEED = 10_000  # calibration trajectories use this noise seed (never a reported seed)


def calibration_noise(n: int = 64, seed: int = CALIBRATION_SEED) -> torch.Tensor:
    """The fixed calibration noise: ``n`` sampler trajectories, the same for every policy."""
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


class ZeroCounter:
    """Accumulates per-step, per-channel zero counts of quantized layer inputs (a QuantizedModel recorder)."""

    def __init__(self, model: QuantizedModel, nodes: list[str], steps: int, tile_channels: int | None):
        self.model, self.steps, self.G = model, steps, tile_channels
        self.nodes = list(nodes)
        g = model.graph
        self.zero = {n: np.zeros((steps, int(g.nodes[n]["in_channels"])), np.float64) for n in nodes}
        self.tile = ({n: np.zeros((steps, math.ceil(int(g.nodes[n]["in_channels"]) / tile_channels)), np.float64)
                      for n in nodes} if tile_channels else None)
        self.positions = {n: np.zeros(steps, np.float64) for n in nodes}
        self._set = set(nodes)

    def __call__(self, node: str, q: torch.Tensor) -> None:
        if node not in self._set:
            return
        s = self.model.step
        if s is None or not 0 <= s < self.steps:
            raise QuantError(f"sparsity profile: step index {s} outside 0..{self.steps - 1} (sampler mismatch)")
        z = (q == 0)
        if z.dim() == 2:  # linear input [B, C]
            z = z[:, :, None]
        else:
            z = z.flatten(2)  # [B, C, P]
        b, c, p = z.shape
        self.zero[node][s] += z.sum(dim=(0, 2)).double().numpy()
        self.positions[node][s] += b * p
        if self.G:
            G = self.G
            pad = (-c) % G
            zt = torch.cat([z, torch.ones(b, pad, p, dtype=torch.bool)], 1) if pad else z
            allz = zt.reshape(b, (c + pad) // G, G, p).all(dim=2)
            self.tile[node][s] += allz.sum(dim=(0, 2)).double().numpy()

    def fractions(self) -> tuple[dict, dict | None]:
        zf = {n: (self.zero[n] / np.maximum(self.positions[n], 1)[:, None]).astype(np.float32) for n in self.nodes}
        tz = None if self.tile is None else {
            n: (self.tile[n] / np.maximum(self.positions[n], 1)[:, None]).astype(np.float32) for n in self.nodes}
        return zf, tz


@torch.no_grad()
def profile_sparsity(model: nn.Module, sampler: DDIMSampler | None = None, steps: int = 20, *,
                     policy="sqdm", samples: int = 256, seed: int = 0, tile_channels: int | None = 8,
                     graph: nx.DiGraph | None = None, calibration: torch.Tensor | None = None,
                     batch_size: int = 256):
    """Measured :class:`workloads.SparsityProfile` of ``model`` (see the module docstring).

    ``model``: a ReLU UNet (quantized here with ``policy``, and calibrated on :func:`calibration_noise`
    if the policy needs it) or a ready :class:`QuantizedModel` (``policy`` is then ignored).
    ``sampler``: default ``DDIMSampler(steps)``. ``samples`` trajectories from noise seeded by ``seed``.
    """
    from workloads import SparsityProfile, eligible_nodes
    sampler = sampler or DDIMSampler(steps)
    if tile_channels is not None and (not isinstance(tile_channels, int) or tile_channels < 1):
        raise QuantError(f"sparsity profile: tile_channels={tile_channels!r} must be a positive integer")
    if not isinstance(samples, int) or samples < 1:
        raise QuantError(f"sparsity profile: samples={samples!r} must be a positive integer")
    if isinstance(model, QuantizedModel):
        qm = model
    else:
        qm = quantize_model(model, policy, graph=graph or mac_graph("relu"))
        qm.calibrate(sampler, calibration if calibration is not None else calibration_noise())
    g = qm.graph
    nodes = eligible_nodes(g)
    if not nodes:
        raise QuantError("sparsity profile: the graph has no sparse-eligible node (is the model a ReLU model?)")
    bad = [n for n in nodes if g.nodes[n].get("kind") == "matmul"]
    if bad:
        raise QuantError(f"sparsity profile: sparse-eligible matmul '{bad[0]}' is not a module call; not supported")
    counter = ZeroCounter(qm, nodes, sampler.steps, tile_channels)
    noise = torch.randn(samples, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    qm.recorder = counter
    try:
        sampler.sample(qm, noise, batch_size=batch_size)
    finally:
        qm.recorder = None
    zf, tz = counter.fractions()
    macs = {n: float(g.nodes[n].get("macs", 0)) for n in nodes}
    wmean = sum(macs[n] * float(zf[n].mean()) for n in nodes) / max(sum(macs.values()), 1.0)
    info = {**sampler.describe(), "seed": seed, "samples": samples, "policy": qm.policy.name,
            "zero_rule": "input value exactly 0 after activation fake-quantization",
            "tile_rule": "fraction of (sample, pixel) positions where all tile_channels channels are zero",
            "relu_shift": float(getattr(model, "relu_shift", getattr(qm.net, "relu_shift", 0.0))),
            "mean_unweighted": float(np.mean(np.concatenate([a.ravel() for a in zf.values()]))),
            "mean_mac_weighted": wmean, "fitted_synthetic": fit_synthetic(zf),
            "fitted_synthetic_conv_only": fit_synthetic({n: a for n, a in zf.items() if g.nodes[n]["kind"] == "conv"})}
    return SparsityProfile(kind="measured", model=str(g.graph.get("model", "tiny-digits")), steps=sampler.steps,
                           zero_fraction=zf, info=info, tile_channels=tile_channels, tile_zero_fraction=tz)
