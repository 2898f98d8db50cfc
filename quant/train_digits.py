"""Train the ``tiny-digits`` diffusion models and the digits classifier (deterministic, CPU).

``python -m quant.train_digits [--steps N] [--out DIR]`` (also ``sqdm train-digits``) runs four phases
and writes float16 weights to ``DIR`` (default: ``quant/weights/``, the committed ones):

1. **classifier** - small CNN (``quant.models.DigitsClassifier``) on a seeded 80% split of the digits,
   Adam, ``--classifier-epochs`` epochs; its held-out accuracy on the other 20% goes in its metadata.
2. **SiLU UNet** - DDPM eps-prediction training (``quant.diffusion``), batch ``--batch``, Adam with
   warm-up and cosine decay, gradient clipping 1.0, EMA of the weights (the EMA is saved): ``--steps``.
3. **ReLU UNet** - the SiLU EMA weights with every SiLU swapped for ReLU, fine-tuned by distilling the
   SiLU model's eps predictions (target = mean of true noise and teacher prediction): ``--relu-steps``
   (default steps // 3). Saved as ``tiny-digits-relu-plain.pt``.
4. **shifted ReLU** - the ReLU model with ``max(x - shift, 0)`` activations (``--shift``, default 0.3),
   fine-tuned the same way for ``--shift-steps`` (default steps // 4) to promote zeros. Saved as
   ``tiny-digits-relu.pt`` (the model SQ-DM quantizes). ``--shift 0`` skips the phase and saves the
   plain ReLU model there.

Everything is seeded (``--seed``) and runs with ``torch.use_deterministic_algorithms(True)`` on 2
threads; each phase's wall time is printed and stored in the weights' metadata.
"""
from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .diffusion import cosine_alpha_bar, diffusion_loss, load_digits_images, load_digits_labels
from .errors import QuantError
from .models import DigitsClassifier, WEIGHTS_DIR, save_weights, set_relu_shift

__all__ = ["train_all", "train_classifier", "train_unet", "main"]


def _setup(seed: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)


def train_classifier(epochs: int = 30, seed: int = 0, progress: bool = True) -> tuple[DigitsClassifier, float]:
    """Train the digits classifier; return it (eval mode) and its held-out accuracy."""
    gen = torch.Generator().manual_seed(seed)
    xtr, ytr = load_digits_images("train"), load_digits_labels("train")
    xte, yte = load_digits_images("test"), load_digits_labels("test")
    torch.manual_seed(seed)
    m = DigitsClassifier()
    opt = torch.optim.Adam(m.parameters(), 2e-3, weight_decay=1e-4)
    for _ in tqdm(range(epochs), desc="classifier", disable=not progress, leave=False):
        m.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), 64):
            idx = perm[i:i + 64]
            x = xtr[idx] + 0.1 * torch.randn(xtr[idx].shape, generator=gen)  # light noise augmentation
            loss = F.cross_entropy(m(x), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    m.eval()
    with torch.no_grad():
        acc = float((m(xte).argmax(1) == yte).float().mean())
    return m, acc


def train_unet(model: torch.nn.Module, steps: int, *, lr: float, batch: int, seed: int,
               teacher: torch.nn.Module | None = None, desc: str = "unet", progress: bool = True,
               ema_decay: float = 0.995) -> tuple[torch.nn.Module, float]:
    """Train ``model`` in place for ``steps`` steps; return the EMA copy (eval mode) and the last loss."""
    gen = torch.Generator().manual_seed(seed)
    data = load_digits_images("all")
    ab = cosine_alpha_bar()
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr)
    warm = max(1, min(20, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, (k + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(k, steps) / steps))))
    model.train()
    loss_avg = float("nan")
    t_start = time.perf_counter()
    log_every = max(steps // 10, 1) if steps >= 100 else 0
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for k in bar:
        idx = torch.randint(0, len(data), (batch,), generator=gen)
        loss = diffusion_loss(model, data[idx], ab, gen, teacher=teacher)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        d = min(ema_decay, (1 + k) / (10 + k))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        lv = float(loss.detach())
        loss_avg = lv if k == 0 else 0.95 * loss_avg + 0.05 * lv
        bar.set_postfix(loss=f"{loss_avg:.4f}")
        if not progress and log_every and (k + 1) % log_every == 0:
            print(f"  {desc}: step {k + 1}/{steps}, loss {loss_avg:.4f}, {time.perf_counter() - t_start:.0f} s",
                  flush=True)
    model.eval()
    return ema, loss_avg


def train_all(steps: int = 400, out: str | Path | None = None, *, relu_steps: int | None = None,
              shift_steps: int | None = None, shift: float = 0.3, batch: int = 128, lr: float = 2e-3,
              classifier_epochs: int = 20, seed: int = 0, progress: bool = True) -> dict:
    """Run all phases (see the module docstring); return a summary dict (times in seconds)."""
    from workloads import get_model, swap_activation
    if steps < 1 or batch < 1 or classifier_epochs < 1:
        raise QuantError("train-digits: --steps, --batch and --classifier-epochs must be >= 1")
    if not (0.0 <= shift < 2.0):
        raise QuantError(f"train-digits: --shift {shift} must be within [0, 2)")
    relu_steps = max(1, steps // 3) if relu_steps is None else relu_steps
    shift_steps = max(1, steps // 4) if shift_steps is None else shift_steps
    out = Path(out) if out is not None else WEIGHTS_DIR
    _setup(seed)
    summary: dict = {"steps": steps, "relu_steps": relu_steps, "shift_steps": shift_steps, "shift": shift,
                     "batch": batch, "seed": seed, "out": str(out), "torch": torch.__version__}
    t_all = time.perf_counter()

    t0 = time.perf_counter()
    clf, acc = train_classifier(classifier_epochs, seed, progress)
    summary["classifier_accuracy"] = acc
    summary["classifier_s"] = time.perf_counter() - t0
    save_weights(clf, "classifier", {"test_accuracy": acc, "epochs": classifier_epochs, "seed": seed,
                                     "split": "seeded 80/20 (quant.diffusion.load_digits_images)"}, out)
    print(f"classifier: held-out accuracy {acc:.4f} ({summary['classifier_s']:.0f} s)")

    common = {"process": "DDPM eps-prediction, cosine schedule, T=1000", "batch": batch, "seed": seed}
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    silu = get_model("tiny-digits").build("silu", device="cpu")
    silu_ema, l1 = train_unet(silu, steps, lr=lr, batch=batch, seed=seed, desc="silu", progress=progress)
    summary["silu_s"] = time.perf_counter() - t0
    save_weights(silu_ema, "silu", {**common, "phase": "silu", "steps": steps, "lr": lr, "final_loss": l1}, out)
    print(f"silu: {steps} steps, loss {l1:.4f} ({summary['silu_s']:.0f} s)")

    t0 = time.perf_counter()
    relu = copy.deepcopy(silu_ema)
    for p in relu.parameters():
        p.requires_grad_(True)
    swap_activation(relu, "relu")
    relu_ema, l2 = train_unet(relu, relu_steps, lr=lr / 2, batch=batch, seed=seed + 1, teacher=silu_ema,
                              desc="relu", progress=progress)
    summary["relu_s"] = time.perf_counter() - t0
    meta_relu = {**common, "phase": "relu (distilled from silu)", "steps": relu_steps, "lr": lr / 2,
                 "final_loss": l2, "relu_shift": 0.0}
    save_weights(relu_ema, "relu-plain", meta_relu, out)
    print(f"relu: {relu_steps} steps, loss {l2:.4f} ({summary['relu_s']:.0f} s)")

    if shift > 0 and shift_steps > 0:
        t0 = time.perf_counter()
        sh = copy.deepcopy(relu_ema)
        for p in sh.parameters():
            p.requires_grad_(True)
        set_relu_shift(sh, shift)
        sh_ema, l3 = train_unet(sh, shift_steps, lr=lr / 2, batch=batch, seed=seed + 2, teacher=silu_ema,
                                desc=f"relu-shift{shift:g}", progress=progress)
        summary["shift_s"] = time.perf_counter() - t0
        save_weights(sh_ema, "relu", {**common, "phase": f"shifted relu (x - {shift:g}), distilled from silu",
                                      "steps": relu_steps + shift_steps, "lr": lr / 2, "final_loss": l3,
                                      "relu_shift": shift}, out)
        print(f"relu shift {shift:g}: {shift_steps} steps, loss {l3:.4f} ({summary['shift_s']:.0f} s)")
    else:
        save_weights(relu_ema, "relu", meta_relu, out)
    summary["total_s"] = time.perf_counter() - t_all
    print(f"total training time {summary['total_s']:.0f} s; weights in {out}")
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=400, help="SiLU training steps (default 400)")
    p.add_argument("--relu-steps", type=int, default=None, help="ReLU distillation steps (default steps/3)")
    p.add_argument("--shift-steps", type=int, default=None, help="shifted-ReLU fine-tune steps (default steps/4)")
    p.add_argument("--shift", type=float, default=0.3, help="ReLU shift of the final model (0: plain ReLU)")
    p.add_argument("--batch", type=int, default=128, help="images per training step")
    p.add_argument("--classifier-epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="weights folder (default: quant/weights, committed)")


def run(args: argparse.Namespace) -> int:
    train_all(args.steps, args.out, relu_steps=args.relu_steps, shift_steps=args.shift_steps, shift=args.shift,
              batch=args.batch, classifier_epochs=args.classifier_epochs, seed=args.seed,
              progress=sys.stderr.isatty())
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m quant.train_digits", description=__doc__.splitlines()[0])
    add_arguments(p)
    try:
        return run(p.parse_args(argv))
    except QuantError as e:
        print(f"train-digits: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
