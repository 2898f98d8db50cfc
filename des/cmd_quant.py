"""``sqdm train-digits | quantize | profile | sensitivity | quality``: the quantization pipeline's commands.

Thin wrappers over :mod:`quant`; user errors are ``quant.QuantError`` (a ValueError), printed as one
line by :func:`des.cli.main` (exit status 2).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import register


def _threads() -> None:
    import torch
    torch.set_num_threads(2)


# -- train-digits -----------------------------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    from quant.train_digits import add_arguments
    add_arguments(p)


def _train_run(args: argparse.Namespace) -> int:
    from quant.train_digits import run
    return run(args)


# -- quantize ---------------------------------------------------------------------------------------
def _quantize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", default="sqdm", help="built-in policy name (see quant/policies) or YAML file")
    p.add_argument("--model", default="tiny-digits", help="zoo model (default tiny-digits)")
    p.add_argument("--activation", choices=["relu", "silu"], default="relu")
    p.add_argument("--out", type=Path, default=None,
                   help="annotated workload file (default: <model>-<policy>.workload.json)")


def _quantize_run(args: argparse.Namespace) -> int:
    from quant import apply_policy, load_policy
    from workloads import build_workload, write_graph
    pol = load_policy(args.policy)
    g = apply_policy(build_workload(args.model, activation=args.activation), pol)
    out = args.out or Path(f"{args.model}-{pol.name}.workload.json")
    write_graph(g, out)
    share = g.graph["precision"]["mac_share_by_bits"]
    parts = ", ".join(f"{float(v):.1%} at {k} bit" for k, v in share.items())
    print(f"{args.model} ({args.activation}) under policy '{pol.name}': MACs {parts}; wrote {out}")
    return 0


# -- profile ----------------------------------------------------------------------------------------
def _profile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=20, help="DDIM sampling steps (one network evaluation each)")
    p.add_argument("--samples", type=int, default=256, help="sampler trajectories (images)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--policy", default="sqdm", help="precision policy of the profiled model")
    p.add_argument("--tile", type=int, default=8, help="tile size G in channels for tile_zero_fraction")
    p.add_argument("--out", type=Path, default=Path("tiny-digits.profile.npz"), help="profile file (.npz)")
    p.add_argument("--heatmap", type=Path, default=None, help="heatmap PNG (default: next to --out)")
    p.add_argument("--weights-dir", type=Path, default=None, help="weights folder (default: committed)")
    p.add_argument("--include", default="*:conv2d",
                   help="fnmatch pattern of the node ids drawn in the heatmap (default: the convolutions)")


def _profile_run(args: argparse.Namespace) -> int:
    _threads()
    from plots.sparsity import plot_sparsity_heatmap
    from quant import QuantError, load_digits_unet, profile_sparsity
    if args.steps < 1:
        raise QuantError(f"profile: --steps {args.steps} must be >= 1")
    model = load_digits_unet("relu", args.weights_dir)
    prof = profile_sparsity(model, steps=args.steps, policy=args.policy, samples=args.samples, seed=args.seed,
                            tile_channels=args.tile)
    prof.save(args.out)
    png = args.heatmap or args.out.with_suffix(".png")
    plot_sparsity_heatmap(prof, path=png, include=args.include)
    f = prof.info["fitted_synthetic"]
    print(f"measured profile: {len(prof.node_ids)} sparse-eligible nodes x {prof.steps} steps; mean zero fraction "
          f"{prof.mean():.3f} (MAC-weighted {prof.info['mean_mac_weighted']:.3f}); wrote {args.out} and {png}")
    print("fitted synthetic_profile parameters: " + ", ".join(f"{k}={v:.3f}" for k, v in f.items()))
    fc = prof.info["fitted_synthetic_conv_only"]
    print("  (convolutions only: " + ", ".join(f"{k}={v:.3f}" for k, v in fc.items()) + ")")
    return 0


# -- sensitivity ------------------------------------------------------------------------------------
def _sens_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", default="sqdm-all4", help="4-bit formats to test layer by layer")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--trajectories", type=int, default=16)
    p.add_argument("--out", type=Path, default=Path("sensitivity.csv"))


def _sens_run(args: argparse.Namespace) -> int:
    _threads()
    from quant import load_digits_unet, sensitivity_sweep
    df = sensitivity_sweep(load_digits_unet("relu"), args.policy, steps=args.steps, trajectories=args.trajectories,
                           progress=sys.stderr.isatty())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(df.head(12).to_string(index=False))
    print(f"wrote {args.out}")
    return 0


# -- quality ----------------------------------------------------------------------------------------
def _quality_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", type=int, default=1000, help="images per row and seed")
    p.add_argument("--seeds", type=int, default=3, help="noise seeds (0..K-1)")
    p.add_argument("--steps", type=int, default=10, help="DDIM sampling steps")
    p.add_argument("--out", type=Path, default=Path("quality.csv"), help="CSV table to write")
    p.add_argument("--markdown", type=Path, default=None, help="also write the Markdown table here")
    p.add_argument("--tradeoff", action="store_true",
                   help="add the rows of the plain-ReLU model (no shift): the sparsity-vs-quality trade-off")


def _quality_run(args: argparse.Namespace) -> int:
    _threads()
    from quant import ROWS, TRADEOFF_ROWS, format_table, quality_table
    df = quality_table(args.samples, args.seeds, args.steps, rows=ROWS + (TRADEOFF_ROWS if args.tradeoff else []),
                       progress=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    md = format_table(df)
    print(md)
    if args.markdown:
        args.markdown.write_text(md + "\n")
    print(f"wrote {args.out}")
    return 0


register("train-digits", "train the tiny-digits diffusion models and the digits classifier", _train_args,
         _train_run)
register("quantize", "annotate a workload graph with a precision policy", _quantize_args, _quantize_run)
register("profile", "measure per-step, per-channel sparsity of the quantized ReLU tiny-digits model",
         _profile_args, _profile_run)
register("sensitivity", "per-layer 4-bit sensitivity sweep of the ReLU tiny-digits model", _sens_args, _sens_run)
register("quality", "quality table (FID/KID/PSNR, sparsity, 8-bit share) of FP32 and 4-bit tiny-digits",
         _quality_args, _quality_run)
