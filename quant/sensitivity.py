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
from workloads import MAC_KINDS

from .policy import load_policy
from .qmodel import mac_graph, quantize_model
from .sparsity import calibration_noise

__all__ = ["sensitivity_sweep", "trajectory_inputs", "eps_error", "choose_8bit", "write_policy_files"]


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
                                    if d.get("kind") in MAC_KINDS)
    return df


def choose_8bit(df: pd.DataFrame, share_of_total: float = 0.02) -> list[str]:
    """Nodes whose single-layer error is at least ``share_of_total`` of the summed single-layer errors."""
    total = float(df.rel_eps_error.sum())
    return [n for n, e in zip(df.node, df.rel_eps_error) if total > 0 and e >= share_of_total * total]


_POLICIES = {
    "sqdm": ("SQ-DM mixed W4A4 ReLU (the default policy): weights INT4 x E4M3 scale per 16 input channels (with an "
             "FP32 per-tensor scale); ReLU-fed inputs UINT4 x E4M3 scale per 16 elements inside one channel; other "
             "inputs INT4 x E4M3 scale per 16 elements inside one channel; sensitive layers MXINT8.",
             [(True, "int4_e4m3_v16_ts", "uint4_e4m3_v16"), (None, "int4_e4m3_v16_ts", "int4_e4m3_v16")]),
    "int4": ("Plain INT4 baseline: weights INT4 per output channel; activations INT4 per tensor with a static scale "
             "calibrated per sampling step (ReLU-fed inputs unsigned UINT4, others signed INT4); sensitive layers "
             "MXINT8.", [(True, "int4_pc", "uint4"), (None, "int4_pc", "int4")]),
    "int4-vsq": ("INT4-VSQ baseline (VS-Quant): weights and activations INT4 with a 6-bit integer scale per "
                 "16-element vector along the input channels and an FP32 second-level scale per output channel "
                 "(weights) / per sample (activations); sensitive layers MXINT8.",
                 [(None, "int4_vsq_v16_s6", "int4_vsq_v16_s6")]),
    "w4a8": ("W4A8: weights as SQ-DM (INT4 x E4M3 per 16, FP32 per-tensor scale); activations INT8 per tensor with "
             "a static scale calibrated per sampling step; sensitive layers MXINT8.",
             [(None, "int4_e4m3_v16_ts", "int8")]),
}


def write_policy_files(eight_bit_nodes: list[str], folder=None, source: str = "docs/sensitivity.csv") -> list:
    """(Re)write the built-in 4-bit policies with the same 8-bit (MXINT8) node list; return the paths."""
    from pathlib import Path

    from components.fileio import atomic_write_text

    from .policy import POLICY_DIR
    folder = Path(folder or POLICY_DIR)
    paths = []
    for name, (desc, rules) in _POLICIES.items():
        lines = [f"name: {name}", "description: >-", f"  {desc}", "rules:",
                 "  - kind: matmul   # attention matmuls: MXINT8 on the accelerator (float in the fake-quant model)",
                 "    weight: mxint8", "    act: mxint8",
                 f"  # 8-bit layers chosen by the sensitivity sweep ({source}): identical in every 4-bit policy"]
        for n in eight_bit_nodes:
            lines += [f'  - match: "{n}"', "    weight: mxint8", "    act: mxint8"]
        lines.append("  # everything else")
        for elig, w, a in rules:
            lines.append('  - match: "*"')
            if elig:
                lines.append("    sparse_eligible: true")
            lines += [f"    weight: {w}", f"    act: {a}"]
        p = folder / f"{name}.yaml"
        atomic_write_text(p, "\n".join(lines) + "\n")
        paths.append(p)
    return paths
