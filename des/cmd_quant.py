"""``sqdm train-digits | quantize | profile | sensitivity | quality``: the quantization pipeline's commands.

Thin wrappers over :mod:`quant`; user errors are ``quant.QuantError`` (a ValueError), printed as one
line by :func:`des.cli.main` (exit status 2). Every number has the bounds of :mod:`des.limits`; every output
path is checked before the computation starts and written atomically before anything is printed.
"""
from __future__ import annotations

import argparse
import sys

from .cli import register
from .limits import (MAX_SAMPLES, MAX_TRAIN_BATCH, MAX_TRAIN_STEPS, MAX_TRAJECTORY_INPUTS, float_in, int_in,
                     sampler_steps_arg, samples_arg, seed_arg, seeds_arg, tile_channels_arg, trajectories_arg)


def _threads() -> None:
    import torch
    torch.set_num_threads(2)


# -- train-digits -----------------------------------------------------------------------------------
_TRAIN_BOUNDS = {
    "steps": int_in(1, MAX_TRAIN_STEPS, "des/limits.py MAX_TRAIN_STEPS"),
    "relu_steps": int_in(1, MAX_TRAIN_STEPS, "des/limits.py MAX_TRAIN_STEPS"),
    "shift_steps": int_in(1, MAX_TRAIN_STEPS, "des/limits.py MAX_TRAIN_STEPS"),
    "shift": float_in(0.0, 10.0, "a ReLU threshold"),
    "batch": int_in(1, MAX_TRAIN_BATCH, "des/limits.py MAX_TRAIN_BATCH"),
    "classifier_epochs": int_in(1, 10_000, "classifier training epochs"),
    "seed": seed_arg,
}


def _train_args(p: argparse.ArgumentParser) -> None:
    from quant.train_digits import add_arguments
    add_arguments(p)
    for action in p._actions:  # the bounds of des/limits.py on the options quant.train_digits defines
        if action.dest in _TRAIN_BOUNDS:
            action.type = _TRAIN_BOUNDS[action.dest]
        elif action.dest == "out":
            action.type = str


def _train_run(args: argparse.Namespace) -> int:
    from components.fileio import check_output_folder
    if args.out is not None:
        args.out = check_output_folder(args.out, "--out")
    from quant.train_digits import run
    return run(args)


# -- quantize ---------------------------------------------------------------------------------------
def _quantize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", default="sqdm", help="built-in policy name (see quant/policies) or YAML file")
    p.add_argument("--model", default="tiny-digits", help="zoo model (default tiny-digits)")
    p.add_argument("--activation", choices=["relu", "silu"], default="relu")
    p.add_argument("--out", default=None, help="annotated workload file (default: <model>-<policy>.workload.json)")


def _quantize_run(args: argparse.Namespace) -> int:
    from components.fileio import check_output_path
    from quant import apply_policy, load_policy
    from workloads import build_workload, get_model, write_graph
    pol = load_policy(args.policy)
    get_model(args.model)  # an unknown model fails before the output is checked against its default name
    out = check_output_path(args.out if args.out is not None else f"{args.model}-{pol.name}.workload.json", "--out")
    g = apply_policy(build_workload(args.model, activation=args.activation), pol)
    write_graph(g, out)
    share = g.graph["precision"]["mac_share_by_bits"]
    parts = ", ".join(f"{float(v):.1%} at {k} bit" for k, v in share.items())
    print(f"{args.model} ({args.activation}) under policy '{pol.name}': MACs {parts}; wrote {out}")
    return 0


# -- profile ----------------------------------------------------------------------------------------
def _profile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=sampler_steps_arg, default=20,
                   help="DDIM sampling steps (one network evaluation each)")
    p.add_argument("--samples", type=samples_arg, default=256, help="sampler trajectories (images)")
    p.add_argument("--seed", type=seed_arg, default=0, help="noise seed")
    p.add_argument("--policy", default="sqdm", help="precision policy of the profiled model")
    p.add_argument("--tile", type=tile_channels_arg, default=8, help="tile size G in channels for tile_zero_fraction")
    p.add_argument("--out", default="tiny-digits.profile.npz", help="profile file (.npz)")
    p.add_argument("--heatmap", default=None,
                   help="heatmap figure (.png, .pdf or .svg; default: next to --out, .png)")
    p.add_argument("--weights-dir", default=None, help="weights folder (default: committed)")
    p.add_argument("--include", default="*:conv2d",
                   help="fnmatch pattern of the node ids drawn in the heatmap (default: the convolutions)")


def _profile_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from components.fileio import IMAGE_SUFFIXES, atomic_path, check_distinct_outputs, check_output_path
    from quant.errors import QuantError
    from quant.patterns import check_glob
    out = check_output_path(args.out, "--out")
    png = check_output_path(args.heatmap if args.heatmap is not None else out.with_suffix(".png"), "--heatmap",
                            suffixes=IMAGE_SUFFIXES, default_suffix=".png")
    check_distinct_outputs({"--out": out, "--heatmap": png})
    try:
        check_glob(args.include)
    except ValueError as e:
        raise QuantError(f"--include: {e}") from None
    _threads()
    from plots.sparsity import plot_sparsity_heatmap
    from quant import load_digits_unet, profile_sparsity
    model = load_digits_unet("relu", None if args.weights_dir is None else Path(args.weights_dir))
    prof = profile_sparsity(model, steps=args.steps, policy=args.policy, samples=args.samples, seed=args.seed,
                            tile_channels=args.tile)
    with atomic_path(out) as tmp:
        prof.save(tmp)
    png = plot_sparsity_heatmap(prof, path=png, include=args.include)
    f = prof.info["fitted_synthetic"]
    print(f"measured profile: {len(prof.node_ids)} sparse-eligible nodes x {prof.steps} steps; mean zero fraction "
          f"{prof.mean():.3f} (MAC-weighted {prof.info['mean_mac_weighted']:.3f}); wrote {out} and {png}")
    print("fitted synthetic_profile parameters: " + ", ".join(f"{k}={v:.3f}" for k, v in f.items()))
    fc = prof.info.get("fitted_synthetic_conv_only")
    if fc:
        print("  (convolutions only: " + ", ".join(f"{k}={v:.3f}" for k, v in fc.items()) + ")")
    return 0


# -- sensitivity ------------------------------------------------------------------------------------
def _sens_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", default="sqdm-all4", help="4-bit formats to test layer by layer")
    p.add_argument("--steps", type=sampler_steps_arg, default=10)
    p.add_argument("--trajectories", type=trajectories_arg, default=16)
    p.add_argument("--out", default="sensitivity.csv")


def _sens_run(args: argparse.Namespace) -> int:
    from components.fileio import atomic_path, check_output_path
    from quant import QuantError, load_policy
    out = check_output_path(args.out, "--out")
    if args.steps * args.trajectories > MAX_TRAJECTORY_INPUTS:
        raise QuantError(f"sensitivity: --trajectories {args.trajectories} x --steps {args.steps} inputs exceed "
                         f"{MAX_TRAJECTORY_INPUTS:,} (des/limits.py MAX_TRAJECTORY_INPUTS)")
    load_policy(args.policy)  # a bad policy fails before the sweep
    _threads()
    from quant import load_digits_unet, sensitivity_sweep
    df = sensitivity_sweep(load_digits_unet("relu"), args.policy, steps=args.steps, trajectories=args.trajectories,
                           progress=sys.stderr.isatty())
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False)
    print(df.head(12).to_string(index=False))
    print(f"wrote {out}")
    return 0


# -- quality ----------------------------------------------------------------------------------------
def _quality_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", type=int_in(2, MAX_SAMPLES, "des/limits.py MAX_SAMPLES"), default=1000,
                   help="images per row and seed")
    p.add_argument("--seeds", type=seeds_arg, default=3, help="noise seeds (0..K-1)")
    p.add_argument("--steps", type=sampler_steps_arg, default=10, help="DDIM sampling steps")
    p.add_argument("--out", default="quality.csv", help="CSV table to write")
    p.add_argument("--markdown", default=None, help="also write the Markdown table here")
    p.add_argument("--tradeoff", action="store_true",
                   help="add the rows of the plain-ReLU model (no shift): the sparsity-vs-quality trade-off")


def _quality_run(args: argparse.Namespace) -> int:
    from components.fileio import atomic_path, atomic_write_text, check_distinct_outputs, check_output_path
    out = check_output_path(args.out, "--out")
    md_path = None if args.markdown is None else check_output_path(args.markdown, "--markdown")
    check_distinct_outputs({"--out": out, "--markdown": md_path})
    _threads()
    from quant import ROWS, TRADEOFF_ROWS, format_table, quality_table
    df = quality_table(args.samples, args.seeds, args.steps, rows=ROWS + (TRADEOFF_ROWS if args.tradeoff else []),
                       progress=sys.stderr.isatty())
    md = format_table(df)
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False)
    if md_path is not None:
        atomic_write_text(md_path, md + "\n")
    print(md)
    print(f"wrote {out}" + (f" and {md_path}" if md_path is not None else ""))
    return 0


register("train-digits", "train the tiny-digits diffusion models and the digits classifier", _train_args,
         _train_run)
register("quantize", "annotate a workload graph with a precision policy", _quantize_args, _quantize_run)
register("profile", "measure per-step, per-channel sparsity of the quantized ReLU tiny-digits model",
         _profile_args, _profile_run)
register("sensitivity", "per-layer 4-bit sensitivity sweep of the ReLU tiny-digits model", _sens_args, _sens_run)
register("quality", "quality table (FID/KID/PSNR, sparsity, 8-bit share) of FP32 and 4-bit tiny-digits",
         _quality_args, _quality_run)
