"""Sparsity vs quality of the shifted ReLU: fine-tune the plain ReLU model with ``max(x - shift, 0)``.

``python -m quant.tradeoff [--shifts 0,0.15,0.3,0.5] [--steps 100] [--samples 1000] [--out docs/tradeoff.csv]``

For each shift, start from the committed plain-ReLU model (``tiny-digits-relu-plain.pt``), set the shift,
fine-tune ``steps`` steps with the same distillation recipe as ``quant.train_digits`` (shift 0 is
fine-tuned too, so every point gets the same budget), then measure in FP32 and under the default SQ-DM
policy: the zero fraction over the sparse-eligible inputs, FID (digits classifier features) vs the real
digits, and FID / PSNR of the quantized model vs its FP32 samples from the same noise (DDIM, seed 0).
Nothing is saved but the table (and its plot next to it), both checked before the fine-tunes start and
written atomically (``components.fileio``).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

__all__ = ["shift_tradeoff", "main"]


@torch.no_grad()
def _measure(model, sampler, noise, real_feats, policy):
    from workloads import eligible_nodes
    from .metrics import classifier_features, fid
    from .qmodel import quantize_model
    from .sparsity import ZeroCounter, calibration_noise
    qm = quantize_model(model, policy)
    qm.calibrate(sampler, calibration_noise())
    counter = ZeroCounter(qm, eligible_nodes(qm.graph), sampler.steps, None)
    qm.recorder = counter
    x = sampler.sample(qm, noise)
    qm.recorder = None
    zf = float(np.mean(np.concatenate([a.ravel() for a in counter.fractions()[0].values()])))
    f = classifier_features(x)
    return x, f, zf, fid(f, real_feats)


def shift_tradeoff(shifts=(0.0, 0.15, 0.3, 0.5), steps: int = 100, samples: int = 1000, sample_steps: int = 10,
                   seed: int = 0, batch: int = 128, progress: bool = False) -> pd.DataFrame:
    """One row per shift: ``shift, zero_fraction_fp32, zero_fraction_sqdm, fid_fp32, fid_sqdm, fid_sqdm_vs_fp,
    psnr_sqdm_vs_fp``."""
    from .diffusion import DDIMSampler, load_digits_images
    from .metrics import classifier_features, fid, psnr
    from .models import load_digits_unet, set_relu_shift
    from .train_digits import train_unet
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    teacher = load_digits_unet("silu")
    base = load_digits_unet("relu-plain")
    sampler = DDIMSampler(sample_steps)
    noise = torch.randn(samples, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    real = classifier_features(load_digits_images("all"))
    rows = []
    for sh in shifts:
        m = copy.deepcopy(base)
        set_relu_shift(m, float(sh))
        with torch.enable_grad():
            for p in m.parameters():
                p.requires_grad_(True)
            torch.manual_seed(seed)
            ema, loss = train_unet(m, steps, lr=1e-3, batch=batch, seed=seed + 2, teacher=teacher,
                                   desc=f"shift {sh:g}", progress=progress)
        x_fp, f_fp, z_fp, fid_fp = _measure(ema, sampler, noise, real, "fp32")
        x_q, f_q, z_q, fid_q = _measure(ema, sampler, noise, real, "sqdm")
        rows.append({"shift": float(sh), "finetune_steps": steps, "final_loss": loss, "zero_fraction_fp32": z_fp,
                     "zero_fraction_sqdm": z_q, "fid_fp32": fid_fp, "fid_sqdm": fid_q,
                     "fid_sqdm_vs_fp": fid(f_q, f_fp), "psnr_sqdm_vs_fp": psnr(x_q, x_fp)})
        print(f"shift {sh:g}: zeros {z_fp:.3f} (fp32) / {z_q:.3f} (sqdm); FID {fid_fp:.2f} (fp32) / {fid_q:.2f} "
              f"(sqdm); sqdm vs fp: FID {rows[-1]['fid_sqdm_vs_fp']:.2f}, PSNR {rows[-1]['psnr_sqdm_vs_fp']:.1f} dB",
              flush=True)
    return pd.DataFrame(rows)


def plot_tradeoff(df: pd.DataFrame, path: str | Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(100 * df.zero_fraction_fp32, df.fid_fp32, "o-", label="FP32")
    ax.plot(100 * df.zero_fraction_sqdm, df.fid_sqdm, "s-", label="SQ-DM W4A4")
    for _, r in df.iterrows():
        ax.annotate(f"shift {r['shift']:g}", (100 * r.zero_fraction_sqdm, r.fid_sqdm), fontsize=7,
                    xytext=(4, -10), textcoords="offset points")
    ax.set_xlabel("zero fraction of sparse-eligible inputs (%)")
    ax.set_ylabel("FID (digits classifier features) vs real")
    ax.legend(fontsize=8)
    ax.set_title("shifted ReLU: sparsity vs quality (tiny-digits)", fontsize=9)
    fig.tight_layout()
    from components.fileio import atomic_path
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format=path.suffix[1:].lower() or "png")
    finally:
        plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m quant.tradeoff", description=__doc__.splitlines()[0])
    p.add_argument("--shifts", default="0,0.15,0.3,0.5", help="comma-separated ReLU shifts")
    p.add_argument("--steps", type=int, default=100, help="fine-tune steps per shift")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--sample-steps", type=int, default=10, help="DDIM steps")
    p.add_argument("--out", default="tradeoff.csv")
    a = p.parse_args(argv)
    from components.fileio import IMAGE_SUFFIXES, atomic_path, check_distinct_outputs, check_output_path
    try:
        out = check_output_path(a.out, "--out")
        png = check_output_path(out.with_suffix(".png"), "figure", suffixes=IMAGE_SUFFIXES)
        check_distinct_outputs({"--out": out, "figure": png})
    except ValueError as e:
        print(f"tradeoff: error: {e}", file=sys.stderr)
        return 2
    try:
        shifts = [float(v) for v in a.shifts.split(",") if v.strip()]
    except ValueError:
        print(f"tradeoff: error: --shifts '{a.shifts}' must be comma-separated numbers", file=sys.stderr)
        return 2
    if not shifts or not all(0.0 <= s <= 10.0 for s in shifts) or not 1 <= a.steps <= 1_000_000 or \
            not 2 <= a.samples <= 65_536 or not 1 <= a.sample_steps <= 1000:
        print("tradeoff: error: need shifts within 0..10, 1 <= --steps <= 1,000,000, 2 <= --samples <= 65,536 and "
              "1 <= --sample-steps <= 1000", file=sys.stderr)
        return 2
    df = shift_tradeoff(shifts, a.steps, a.samples, a.sample_steps, progress=sys.stderr.isatty())
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False)
    plot_tradeoff(df, png)
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
