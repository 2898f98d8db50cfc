"""Per-layer sensitivity sweep: which layers need 8 bits.

For every conv/linear MAC node, quantize **that node alone** with the base policy's 4-bit formats
(everything else FP32) and measure the relative error of the model's noise prediction against FP32,
``mean((eps_q - eps_fp)^2) / mean(eps_fp^2)``, over the inputs the FP32 model sees along the calibration
trajectories (:func:`quant.sparsity.calibration_noise`, every DDIM step). Layers whose error stands out
are kept at MXINT8 by the default policy; ``docs/sensitivity.csv`` holds the committed sweep.
"""
from __future__ import annotations

import networkx as nx
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from .diffusion import DDIMSampler
from .policy import load_policy
from .qmodel import mac_graph, quantize_model
from .sparsity import calibration_noise

__all__ = ["sensitivity_sweep", "trajectory_inputs", "eps_error"]


@torch.no_grad()
def trajectory_inputs(model: nn.Module, sampler: DDIMSampler, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All (x_t, t) network inputs of ``model``'s sampler trajectories from ``noise``."""
    xs, ts = [], []
    sampler.sample(model, noise, callback=lambda i, t, x: (xs.append(x.clone()), ts.append(torch.full((len(x),), float(t)))))
    return torch.cat(xs), torch.cat(ts)


@torch.no_grad()
def eps_error(model: nn.Module, x: torch.Tensor, t: torch.Tensor, ref: torch.Tensor) -> float:
    out = torch.cat([model(x[i:i + 512], t[i:i + 512]) for i in range(0, len(x), 512)])
    return float((out - ref).pow(2).mean() / ref.pow(2).mean())


@torch.no_grad()
def sensitivity_sweep(model: nn.Module, base_policy="sqdm-all4", *, steps: int = 20, trajectories: int = 32,
                      graph: nx.DiGraph | None = None, progress: bool = True) -> pd.DataFrame:
    """One row per conv/linear node: ``node, kind, block, macs, weight, act, rel_eps_error`` (sorted by error)."""
    base = load_policy(base_policy)
    g = graph or mac_graph("relu" if any(isinstance(m, nn.ReLU) for m in model.modules()) else "silu")
    sampler = DDIMSampler(steps)
    x, t = trajectory_inputs(model, sampler, calibration_noise(trajectories))
    ref = torch.cat([model(x[i:i + 512], t[i:i + 512]) for i in range(0, len(x), 512)])
    rows = []
    nodes = [(n, r) for n, r in base.assignments(g).items() if g.nodes[n].get("kind") != "matmul"]
    for n, r in tqdm(nodes, desc="sensitivity", disable=not progress, leave=False):
        pol = {"name": f"only {n}", "rules": [{"regex": __import__("re").escape(n), "weight": r.weight, "act": r.act},
                                              {"match": "*", "weight": "fp32", "act": "fp32"}]}
        qm = quantize_model(model, pol, graph=g)
        if qm.needs_calibration():
            qm.calibrate(sampler, calibration_noise(trajectories))
        d = g.nodes[n]
        rows.append({"node": n, "kind": d["kind"], "block": d.get("block", ""), "macs": int(d.get("macs", 0)),
                     "weight": r.weight, "act": r.act, "rel_eps_error": eps_error(qm, x, t, ref)})
    df = pd.DataFrame(rows).sort_values("rel_eps_error", ascending=False).reset_index(drop=True)
    df["mac_share"] = df.macs / sum(int(d.get("macs", 0)) for _, d in g.nodes(data=True)
                                    if d.get("kind") in ("conv", "linear", "matmul"))
    return df
