"""The quality table: FP32 SiLU / ReLU and the 4-bit policies on tiny-digits, over several noise seeds.

Rows (``ROWS``) pair a committed model with a policy. Every quantized row uses the committed FP32 ReLU
model (the same fine-tuning budget: no quantization-aware training for any row), the same calibration
trajectories (:func:`quant.sparsity.calibration_noise`, needed by per-tensor formats only), the same
8-bit layers (the sensitivity-sweep set, MXINT8) and vector length 16 where the format has vectors.
For each seed ``s`` in ``0..seeds-1`` every row samples from the same noise (``randn`` seeded ``s``); the
FP32 model of the same activation gives the reference samples for PSNR and "FID vs FP".

Columns: ``fid`` (FID (digits classifier features) vs all 1797 real digits), ``fid_vs_fp`` (same
features, vs the FP32 samples from the same noise), ``kid`` (vs real), ``psnr_vs_fp`` (dB), each with
``_mean``/``_std`` over seeds (std with ddof=1) and ``_per_seed`` (the values, ``;``-separated: every
row of one seed shares its noise, so differences between rows can be compared seed by seed); ``zero_fraction`` (mean fraction of exact zeros over
the sparse-eligible layer inputs, all steps and channels, unweighted, after quantization; 0 for SiLU
where no input is a ReLU output); ``mac_share_8bit``; ``real_fid_floor`` (two real halves).
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .diffusion import DDIMSampler, load_digits_images
from .metrics import classifier_features, fid, kid, psnr, real_fid_floor
from .models import load_digits_unet
from .policy import load_policy, mac_share_by_bits
from .qmodel import mac_graph, quantize_model
from .sparsity import ZeroCounter, calibration_noise

__all__ = ["ROWS", "TRADEOFF_ROWS", "quality_table", "format_table"]

ROWS: list[tuple[str, str, str]] = [
    ("FP32 SiLU", "silu", "fp32"),
    ("FP32 ReLU", "relu", "fp32"),
    ("plain INT4", "relu", "int4"),
    ("INT4-VSQ", "relu", "int4-vsq"),
    ("W4A8", "relu", "w4a8"),
    ("SQ-DM mixed W4A4 ReLU", "relu", "sqdm"),
]
# The sparsity-vs-quality trade-off: the same pipeline on the ReLU model before the shifted-ReLU fine-tune.
TRADEOFF_ROWS: list[tuple[str, str, str]] = [
    ("FP32 ReLU, no shift", "relu-plain", "fp32"),
    ("SQ-DM W4A4 ReLU, no shift", "relu-plain", "sqdm"),
]


@torch.no_grad()
def quality_table(samples: int = 1000, seeds: int = 3, steps: int = 20, rows=None, *, progress: bool = True,
                  calibration_trajectories: int = 64, weights_dir=None) -> pd.DataFrame:
    """Measure every row of ``rows`` (default :data:`ROWS`); see the module docstring for the columns."""
    from .errors import QuantError
    from workloads import eligible_nodes
    if samples < 2 or seeds < 1:
        raise QuantError(f"quality: need samples >= 2 and seeds >= 1 (got {samples}, {seeds})")
    torch.set_num_threads(2)
    rows = rows or ROWS
    sampler = DDIMSampler(steps)
    models = {a: load_digits_unet(a, weights_dir) for a in sorted({r[1] for r in rows})}
    real_feats = classifier_features(load_digits_images("all"))
    floor = real_fid_floor()
    calib = calibration_noise(calibration_trajectories)
    qms = {}
    for name, act, pol in rows:
        g = mac_graph("relu" if act.startswith("relu") else "silu")
        qm = quantize_model(models[act], pol, graph=g)
        qm.calibrate(sampler, calib)
        qms[name] = qm
    results = {name: [] for name, _, _ in rows}
    ref_cache: dict = {}
    bar = tqdm(total=len(rows) * seeds, desc="quality", disable=not progress)
    for s in range(seeds):
        noise = torch.randn(samples, 1, 8, 8, generator=torch.Generator().manual_seed(s))
        for name, act, pol in rows:
            qm = qms[name]
            nodes = eligible_nodes(qm.graph)
            counter = ZeroCounter(qm, nodes, steps, None) if nodes else None
            qm.recorder = counter
            t0 = time.perf_counter()
            x = sampler.sample(qm, noise)
            qm.recorder = None
            if (act, s) not in ref_cache:
                fp = quantize_model(models[act], "fp32", graph=qm.graph) if pol != "fp32" else qm
                ref_cache[(act, s)] = x if pol == "fp32" else sampler.sample(fp, noise)
            ref = ref_cache[(act, s)]
            f = classifier_features(x)
            zf = float(np.mean(np.concatenate([a.ravel() for a in counter.fractions()[0].values()]))) if counter else 0.0
            results[name].append({"fid": fid(f, real_feats), "fid_vs_fp": fid(f, classifier_features(ref)),
                                  "kid": kid(f, real_feats, seed=s), "psnr_vs_fp": psnr(x, ref),
                                  "zero_fraction": zf, "seconds": time.perf_counter() - t0})
            bar.update(1)
    bar.close()
    out = []
    for name, act, pol in rows:
        r = pd.DataFrame(results[name])
        row = {"config": name, "model": act, "policy": pol}
        for k in ("fid", "fid_vs_fp", "kid", "psnr_vs_fp"):
            v = r[k].to_numpy(dtype=float)
            row[f"{k}_per_seed"] = ";".join(f"{x:.6g}" for x in v)
            row[f"{k}_mean"] = float(np.mean(v))
            row[f"{k}_std"] = float(np.std(v, ddof=1)) if len(v) > 1 and np.all(np.isfinite(v)) else (
                0.0 if len(v) == 1 or np.all(v == np.inf) else math.nan)
        row["zero_fraction"] = float(r.zero_fraction.mean())
        share = mac_share_by_bits(qms[name].graph, load_policy(pol))
        row["mac_share_8bit"] = share.get(8, 0.0)
        row["mac_share_16bit_plus"] = sum(v for k, v in share.items() if k >= 16)
        row["real_fid_floor"] = floor
        row.update(samples=samples, seeds=seeds, steps=steps)
        out.append(row)
    return pd.DataFrame(out)


def _pm(m: float, s: float, fmt: str) -> str:
    if m == math.inf:
        return "inf"
    return f"{m:{fmt}} ± {s:{fmt}}"


def format_table(df: pd.DataFrame) -> str:
    """A Markdown table of :func:`quality_table`'s output (mean ± std over seeds)."""
    head = ("| config | FID (digits clf.) vs real | FID vs FP | KID vs real | PSNR vs FP (dB) | "
            "zero fraction | MACs at 8 bit |")
    lines = [head, "|" + "---|" * 7]
    for _, r in df.iterrows():
        lines.append(f"| {r.config} | {_pm(r.fid_mean, r.fid_std, '.2f')} | {_pm(r.fid_vs_fp_mean, r.fid_vs_fp_std, '.2f')}"
                     f" | {_pm(r.kid_mean, r.kid_std, '.1f')} | {_pm(r.psnr_vs_fp_mean, r.psnr_vs_fp_std, '.1f')}"
                     f" | {r.zero_fraction:.1%} | {r.mac_share_8bit:.1%} |")
    r0 = df.iloc[0]
    lines.append("")
    lines.append(f"Real-vs-real FID floor (two halves of the digits, ~900 each): {r0.real_fid_floor:.2f}. "
                 f"{int(r0.samples)} samples x {int(r0.seeds)} seeds, DDIM {int(r0.steps)} steps; mean ± std over seeds.")
    return "\n".join(lines)
