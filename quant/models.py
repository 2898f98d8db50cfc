"""Trained ``tiny-digits`` models and the digits classifier: module classes, loading, saving.

Committed weights live in ``quant/weights/`` (written by ``python -m quant.train_digits``):

* ``tiny-digits-silu.pt``  - the SiLU UNet (FP32 baseline);
* ``tiny-digits-relu.pt``  - the ReLU UNet: the SiLU model with every activation swapped to ReLU, then
  fine-tuned by distillation; its activations may be *shifted* ReLUs ``max(x - shift, 0)`` (the shift is
  stored in the file and restored on load);
* ``tiny-digits-relu-plain.pt`` - the ReLU model before the shifted-ReLU fine-tune (shift 0), for the
  sparsity-vs-quality comparison;
* ``digits-classifier.pt`` - the small CNN whose penultimate features define "FID (digits classifier
  features)".

Files hold ``{"state_dict": {name: float16 tensor}, "meta": {...}}``; float16 storage halves the size and
the loaded model runs in float32 (the FP32 rows of the quality table are these float16-rounded weights).

Loading checks, before any weight reaches a model: a regular file of at most
``components.fileio.limits.MAX_WEIGHTS_FILE_BYTES``; ``torch.load(weights_only=True)`` (no code runs); the layout above;
every tensor floating-point and finite; exactly the model's parameter names, each with the model's shape;
``meta.relu_shift`` a finite number in [0, 10]. Saving is atomic (``components.fileio.atomic_path``).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from components.fileio import InputFileError, atomic_path, check_input_file
from components.fileio.limits import MAX_WEIGHTS_FILE_BYTES

from .errors import QuantError

__all__ = ["ShiftedReLU", "set_relu_shift", "DigitsClassifier", "WEIGHTS_DIR", "load_digits_unet",
           "load_classifier", "save_weights", "weights_path"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
_FILES = {"silu": "tiny-digits-silu.pt", "relu": "tiny-digits-relu.pt", "relu-plain": "tiny-digits-relu-plain.pt",
          "classifier": "digits-classifier.pt"}


class ShiftedReLU(nn.ReLU):
    """``max(x - shift, 0)``: a ReLU whose threshold is moved right to create more zeros.

    A subclass of ``nn.ReLU`` so activation swapping and sparse-eligibility treat it as a ReLU
    (its output is non-negative and zero below the threshold). ``shift = 0`` is a plain ReLU.
    """

    def __init__(self, shift: float = 0.0) -> None:
        super().__init__()
        self.shift = float(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x - self.shift) if self.shift else F.relu(x)

    def extra_repr(self) -> str:
        return f"shift={self.shift:g}"


def set_relu_shift(model: nn.Module, shift: float) -> int:
    """Replace every ReLU module of ``model`` by ``ShiftedReLU(shift)``; return how many."""
    n = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(parent, name, ShiftedReLU(shift))
                n += 1
    return n


class DigitsClassifier(nn.Module):
    """Small CNN for 8x8 digits in [-1, 1]; ``features(x)`` is the 64-d penultimate layer (post-ReLU)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv1 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc0 = nn.Linear(64 * 4 * 4, 64)
        self.fc1 = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv0(x))
        h = F.avg_pool2d(F.relu(self.conv1(h)), 2)
        return F.relu(self.fc0(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc1(self.features(x))


def weights_path(which: str, weights_dir: str | Path | None = None) -> Path:
    if which not in _FILES:
        raise QuantError(f"weights: unknown model '{which}' (choose one of {', '.join(_FILES)})")
    return Path(weights_dir or WEIGHTS_DIR) / _FILES[which]


def save_weights(model: nn.Module, which: str, meta: dict, weights_dir: str | Path | None = None) -> Path:
    """Write ``model``'s parameters (float16) and ``meta`` to the file for ``which``."""
    path = weights_path(which, weights_dir)
    sd = {k: v.detach().to(torch.float16).clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": sd, "meta": meta}, tmp)
    return path


def _load(which: str, weights_dir) -> tuple[dict, dict, Path]:
    path = weights_path(which, weights_dir)
    if not path.exists():
        raise QuantError(f"weights file {path} not found (train with 'sqdm train-digits')")
    try:
        check_input_file(path, "weights file", MAX_WEIGHTS_FILE_BYTES)
    except InputFileError as e:
        raise QuantError(str(e)) from None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a user-level error
        raise QuantError(f"weights file {path}: unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(blob, dict) or not isinstance(blob.get("state_dict"), dict) or \
            not isinstance(blob.get("meta", {}), dict):
        raise QuantError(f"weights file {path}: not a sqdm weights file (a mapping with 'state_dict' and 'meta')")
    sd = {}
    for k, v in blob["state_dict"].items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor) or not v.is_floating_point():
            raise QuantError(f"weights file {path}: entry {k!r} is not a floating-point tensor")
        v = v.float()
        if not bool(torch.isfinite(v).all()):
            raise QuantError(f"weights file {path}: tensor '{k}' holds NaN or infinite values")
        sd[k] = v
    meta = dict(blob.get("meta", {}))
    shift = meta.get("relu_shift", 0.0)
    if isinstance(shift, bool) or not isinstance(shift, (int, float)) or not math.isfinite(shift) or \
            not 0.0 <= shift <= 10.0:
        raise QuantError(f"weights file {path}: meta.relu_shift {shift!r} must be a finite number in [0, 10]")
    return sd, meta, path


def _load_into(model: nn.Module, sd: dict, path: Path) -> None:
    """``model.load_state_dict(sd)`` after checking names and shapes; one-line QuantError naming the file."""
    want = model.state_dict()
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want]
    if missing or extra:
        what = f"lacks '{missing[0]}'" if missing else f"has '{extra[0]}', which the model does not"
        raise QuantError(f"weights file {path}: does not fit the model: {what} ({len(missing)} missing, "
                         f"{len(extra)} unexpected)")
    for k, v in want.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise QuantError(f"weights file {path}: tensor '{k}' has shape {list(sd[k].shape)}, the model needs "
                             f"{list(v.shape)}")
    model.load_state_dict(sd)


def load_digits_unet(activation: str = "relu", weights_dir: str | Path | None = None) -> nn.Module:
    """The trained tiny-digits UNet (eval mode, float32). ``activation``: ``"silu"``, ``"relu"`` (the
    committed ReLU model, possibly shifted) or ``"relu-plain"`` (shift 0, before the shifted fine-tune).

    The returned module has ``.meta`` (training record) and, for ReLU, ``.relu_shift``.
    """
    from workloads import get_model
    if activation not in ("silu", "relu", "relu-plain"):
        raise QuantError(f"activation: unknown '{activation}' (choose silu, relu or relu-plain)")
    sd, meta, path = _load(activation, weights_dir)
    act = "silu" if activation == "silu" else "relu"
    model = get_model("tiny-digits").build(act, device="cpu")
    shift = float(meta.get("relu_shift", 0.0)) if act == "relu" else 0.0
    if act == "relu":
        set_relu_shift(model, shift)
    _load_into(model, sd, path)
    model.meta = meta
    model.relu_shift = shift
    return model.eval()


def load_classifier(weights_dir: str | Path | None = None) -> DigitsClassifier:
    """The trained digits classifier (eval mode)."""
    sd, meta, path = _load("classifier", weights_dir)
    m = DigitsClassifier()
    _load_into(m, sd, path)
    m.meta = meta
    return m.eval()
