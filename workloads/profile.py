"""Sparsity profiles: the fraction of zeros per (node, sampling step, input channel).

A profile describes the activation input of every sparse-eligible MAC node (its input is a ReLU output).
Measured profiles come from running a quantized model through a real sampler (``quant``); synthetic
profiles come from :func:`synthetic_profile` and are always labelled ``kind="synthetic"``.

File format (``.npz``, version 1):

* ``meta``: a JSON string ``{"format": "sqdm-sparsity-profile", "format_version": 1, "kind": ...,
  "model": ..., "steps": T, "node_ids": [...], "channels": [...], "tile_channels": G or null,
  "info": {...}}``;
* ``zero_fraction``: float32, the per-node ``[T, C_n]`` arrays, row-major, concatenated in ``node_ids``
  order;
* ``tile_zero_fraction`` (optional): float32, per node ``[T, ceil(C_n / G)]``: the fraction of positions
  where all G channels of a tile are zero (what a tile-skipping array can skip).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np
import yaml

from components.fileio import safe_load_yaml

from .errors import ProfileMismatchError, WorkloadError, WorkloadFileError
from .step_noise import add_step_noise, fit_step_noise

__all__ = ["SparsityProfile", "synthetic_profile", "synthetic_profile_defaults", "fit_synthetic_profile",
           "eligible_nodes", "PROFILE_FORMAT_VERSION", "SYNTHETIC_DEFAULTS_FILE"]

PROFILE_FORMAT = "sqdm-sparsity-profile"
PROFILE_FORMAT_VERSION = 1
KINDS = ("synthetic", "measured")


def eligible_nodes(g: nx.DiGraph) -> list[str]:
    """Ids of the sparse-eligible MAC nodes of ``g``, in execution order."""
    return [n for n, d in g.nodes(data=True) if d.get("sparse_eligible")]


@dataclass
class SparsityProfile:
    """Zero fractions per node as ``[steps, channels]`` float32 arrays, with provenance in ``info``."""

    kind: str
    model: str
    steps: int
    zero_fraction: dict[str, np.ndarray]
    info: dict = field(default_factory=dict)
    tile_channels: int | None = None
    tile_zero_fraction: dict[str, np.ndarray] | None = None
    # per-channel zero fractions of a calibration run (what static labels and the first step's labels use);
    # None: the mean over this profile's steps (in-sample: optimistic for static labels)
    calibration_zero_fraction: dict[str, np.ndarray] | None = None

    def calibration(self, node: str) -> np.ndarray:
        """Per-channel calibration zero fractions of ``node`` (see ``calibration_zero_fraction``)."""
        if self.calibration_zero_fraction is not None and node in self.calibration_zero_fraction:
            return np.asarray(self.calibration_zero_fraction[node], dtype=float)
        return np.asarray(self.zero_fraction[node], dtype=float).mean(axis=0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise WorkloadError(f"profile kind '{self.kind}' must be one of {', '.join(KINDS)}")
        if not isinstance(self.steps, int) or self.steps <= 0:
            raise WorkloadError(f"profile steps {self.steps!r} must be a positive integer")
        for n, a in self.zero_fraction.items():
            a = np.asarray(a, dtype=np.float32)
            if a.ndim != 2 or a.shape[0] != self.steps:
                raise WorkloadError(f"profile node '{n}': shape {list(a.shape)} is not [steps={self.steps}, channels]")
            if not np.all(np.isfinite(a)) or a.min(initial=0.0) < 0.0 or a.max(initial=0.0) > 1.0:
                raise WorkloadError(f"profile node '{n}': zero fractions must be finite and within [0, 1]")
            self.zero_fraction[n] = a

    @property
    def node_ids(self) -> list[str]:
        return list(self.zero_fraction)

    def mean(self) -> float:
        """Unweighted mean zero fraction over all (node, step, channel) entries."""
        total = sum(float(a.sum(dtype=np.float64)) for a in self.zero_fraction.values())
        count = sum(a.size for a in self.zero_fraction.values())
        return total / count if count else 0.0

    # -- validation and attachment -------------------------------------------------------------------
    def validate(self, g: nx.DiGraph) -> None:
        """Raise :class:`ProfileMismatchError` unless ids and channel counts match ``g``'s eligible nodes."""
        want = eligible_nodes(g)
        missing = [n for n in want if n not in self.zero_fraction]
        extra = [n for n in self.zero_fraction if n not in set(want)]
        if missing or extra:
            what = (f"{len(missing)} eligible node(s) missing, e.g. '{missing[0]}'" if missing else
                    f"{len(extra)} node(s) not sparse-eligible in the graph, e.g. '{extra[0]}'")
            raise ProfileMismatchError(f"profile for '{self.model}' does not fit graph '{g.graph.get('model')}': "
                                       f"{what}")
        for n in want:
            c = g.nodes[n]["in_channels"]
            if self.zero_fraction[n].shape[1] != c:
                raise ProfileMismatchError(f"profile node '{n}': {self.zero_fraction[n].shape[1]} channels, "
                                           f"graph has {c}")

    def attach(self, g: nx.DiGraph) -> nx.DiGraph:
        """A copy of ``g`` whose eligible nodes carry ``zero_fraction`` ([steps, channels] arrays)."""
        self.validate(g)
        h = g.copy()
        for n, a in self.zero_fraction.items():
            h.nodes[n]["zero_fraction"] = a
            if self.tile_zero_fraction is not None:
                h.nodes[n]["tile_zero_fraction"] = self.tile_zero_fraction[n]
        h.graph["profile"] = {"kind": self.kind, "model": self.model, "steps": self.steps,
                              "tile_channels": self.tile_channels, "info": dict(self.info)}
        return h

    # -- files ---------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the profile (``.npz``) atomically (:func:`components.fileio.atomic_path`)."""
        path = Path(path)
        ids = self.node_ids
        meta = {"format": PROFILE_FORMAT, "format_version": PROFILE_FORMAT_VERSION, "kind": self.kind,
                "model": self.model, "steps": self.steps, "node_ids": ids,
                "channels": [int(self.zero_fraction[n].shape[1]) for n in ids],
                "tile_channels": self.tile_channels, "info": self.info}
        arrays = {"meta": np.array(json.dumps(meta)),
                  "zero_fraction": _concat([self.zero_fraction[n] for n in ids])}
        if self.tile_zero_fraction is not None:
            arrays["tile_zero_fraction"] = _concat([self.tile_zero_fraction[n] for n in ids])
        from components.fileio import OutputPathError, atomic_path  # lazy: the file helpers are only for writing
        try:
            with atomic_path(path) as tmp:  # a unique temporary name in the target folder, renamed when complete
                with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name without it
                    np.savez_compressed(f, **arrays)
        except OutputPathError as e:
            raise WorkloadFileError(f"profile file {path}: {e}") from None
        except OSError as e:
            raise WorkloadFileError(f"profile file {path}: cannot write ({e.strerror or e})") from None
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SparsityProfile":
        """Read a profile file; any problem is a one-line :class:`WorkloadFileError` naming the file."""
        path = Path(path)
        where = f"profile file {path}"
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise WorkloadFileError(f"{where}: not found") from None
        except Exception as e:  # zipfile/npy errors have many types; all mean "not a readable profile"
            raise WorkloadFileError(f"{where}: not a readable .npz profile ({type(e).__name__}: {e})") from None
        try:
            meta = json.loads(str(arrays["meta"]))
        except (KeyError, json.JSONDecodeError):
            raise WorkloadFileError(f"{where}: missing or malformed 'meta' entry") from None
        if not isinstance(meta, dict) or meta.get("format") != PROFILE_FORMAT:
            raise WorkloadFileError(f"{where}: not an sqdm sparsity profile")
        if meta.get("format_version") != PROFILE_FORMAT_VERSION:
            raise WorkloadFileError(f"{where}: format_version {meta.get('format_version')!r} is not supported "
                                    f"(this sqdm-sim reads version {PROFILE_FORMAT_VERSION})")
        try:
            steps, ids, chans = int(meta["steps"]), list(meta["node_ids"]), [int(c) for c in meta["channels"]]
            zf = _split(arrays["zero_fraction"], steps, chans, ids)
            g = meta.get("tile_channels")
            tz = (_split(arrays["tile_zero_fraction"], steps, [math.ceil(c / g) for c in chans], ids)
                  if g and "tile_zero_fraction" in arrays else None)
            return cls(kind=meta["kind"], model=meta["model"], steps=steps, zero_fraction=zf,
                       info=meta.get("info", {}), tile_channels=g, tile_zero_fraction=tz)
        except WorkloadError as e:
            raise WorkloadFileError(f"{where}: {e}") from None
        except (KeyError, TypeError, ValueError) as e:
            raise WorkloadFileError(f"{where}: inconsistent contents ({type(e).__name__}: {e})") from None


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([a.astype(np.float32).ravel() for a in arrays]) if arrays else np.zeros(0, np.float32)


def _split(flat: np.ndarray, steps: int, chans: list[int], ids: list[str]) -> dict[str, np.ndarray]:
    if len(chans) != len(ids):
        raise ValueError("node_ids and channels differ in length")
    need = steps * sum(chans)
    if flat.ndim != 1 or flat.size != need:
        raise ValueError(f"expected {need} values for {len(ids)} nodes x {steps} steps, found {flat.size}")
    out, pos = {}, 0
    for n, c in zip(ids, chans):
        out[n] = flat[pos:pos + steps * c].reshape(steps, c).astype(np.float32)
        pos += steps * c
    return out


# -- the synthetic generator and its inverse, the fit ----------------------------------------------
SYNTHETIC_DEFAULTS_FILE = Path(__file__).parent / "data" / "synthetic_profile.yaml"
GENERATOR_FIELDS = ("mean", "node_spread", "channel_spread", "drift_per_step", "step_noise", "smooth_noise",
                    "smooth_noise_root", "reference_steps", "seed")
FIT_FIELDS = ("logit_clip",)
# Bisection for the offset (logit units): sigmoid(+-60) is 1 - 1e-26 / 1e-26, beyond any reachable mean; the
# bracket halves each iteration, so 200 iterations or a 1e-12 bracket end it (float64 resolution).
OFFSET_BRACKET_LOGIT = 60.0
OFFSET_MAX_ITERATIONS = 200
OFFSET_TOLERANCE_LOGIT = 1e-12


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow for any finite logit (tanh form)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class _MeanSigmoid:
    """``float(np.mean(_sigmoid(flat + offset)))`` for many offsets (the bisection's ~70), bit for bit, in
    four passes over one scratch array instead of six fresh arrays: halving is exact (no underflow at these
    magnitudes), so ``0.5 * (x + m) == 0.5 * x + 0.5 * m`` and ``mean(0.5 * y) == 0.5 * mean(y)``."""

    def __init__(self, flat: np.ndarray) -> None:
        self.half = 0.5 * flat
        self.scratch = np.empty_like(self.half)

    def __call__(self, offset: float) -> float:
        s = self.scratch
        np.add(self.half, 0.5 * offset, out=s)
        np.tanh(s, out=s)
        np.add(1.0, s, out=s)
        return 0.5 * float(np.mean(s))


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_count(v: object, minimum: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _check_generator_params(where: str, p: dict) -> None:
    """One-line :class:`WorkloadError` naming the first bad field of the generator parameters ``p``."""
    if not (_is_number(p["mean"]) and 0.0 <= p["mean"] <= 1.0):
        raise WorkloadError(f"{where}: mean={p['mean']!r} must be within [0, 1]")
    for name in ("node_spread", "channel_spread", "drift_per_step", "step_noise", "smooth_noise"):
        if not (_is_number(p[name]) and p[name] >= 0):
            raise WorkloadError(f"{where}: {name}={p[name]!r} must be a finite number >= 0")
    root = p["smooth_noise_root"]
    if not (_is_number(root) and 0.0 <= root < 1.0):
        raise WorkloadError(f"{where}: smooth_noise_root={root!r} must be within [0, 1)")
    if not _is_count(p["reference_steps"], 1):
        raise WorkloadError(f"{where}: reference_steps={p['reference_steps']!r} must be a positive integer")
    if not _is_count(p["seed"], 0):
        raise WorkloadError(f"{where}: seed={p['seed']!r} must be an integer >= 0")


@lru_cache(maxsize=1)
def _defaults_file() -> tuple[dict, dict]:
    """(generator defaults, fit settings) of ``workloads/data/synthetic_profile.yaml``, validated."""
    where = f"synthetic profile defaults {SYNTHETIC_DEFAULTS_FILE}"
    try:
        data = safe_load_yaml(SYNTHETIC_DEFAULTS_FILE.read_text())
    except OSError as e:
        raise WorkloadFileError(f"{where}: cannot read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise WorkloadFileError(f"{where}: not valid YAML ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise WorkloadFileError(f"{where}: must be a mapping with sections 'generator' and 'fit'")
    out = []
    for section, fields in (("generator", GENERATOR_FIELDS), ("fit", FIT_FIELDS)):
        sec = data.get(section)
        if not isinstance(sec, dict):
            raise WorkloadFileError(f"{where}: section '{section}' missing or not a mapping")
        missing = [f for f in fields if f not in sec]
        if missing:
            raise WorkloadFileError(f"{where}: field '{section}.{missing[0]}' missing")
        out.append({f: sec[f] for f in fields})
    gen, fit = out
    try:
        _check_generator_params(where + ": generator", gen)
    except WorkloadError as e:
        raise WorkloadFileError(str(e).replace(": generator: ", ": generator.", 1)) from None
    if not (_is_number(fit["logit_clip"]) and 0.0 < fit["logit_clip"] < 0.5):
        raise WorkloadFileError(f"{where}: fit.logit_clip={fit['logit_clip']!r} must be within (0, 0.5)")
    return gen, fit


def synthetic_profile_defaults() -> dict:
    """The generator's default parameters (a copy), read from ``workloads/data/synthetic_profile.yaml``.

    The one source of these defaults: :func:`synthetic_profile` uses them for every argument left at
    ``None``, and the simulator (``des``) calls it that way, so the Python API and ``sqdm simulate``
    produce the same profile.
    """
    return dict(_defaults_file()[0])


def synthetic_profile(g: nx.DiGraph, steps: int, *, mean: float | None = None, channel_spread: float | None = None,
                      node_spread: float | None = None, drift_per_step: float | None = None,
                      step_noise: float | None = None, smooth_noise: float | None = None,
                      smooth_noise_root: float | None = None, reference_steps: int | None = None,
                      seed: int | None = None) -> SparsityProfile:
    """A seeded synthetic profile for ``g``'s eligible nodes; every parameter left at ``None`` takes its
    default from ``workloads/data/synthetic_profile.yaml`` (see :func:`synthetic_profile_defaults`).

    Zero fraction at step ``t`` (0-based) of channel ``c`` of a tensor::

        sigmoid(offset + node_bias + channel_bias[c] + drift_rate[c] * (t - anchor) + wander[t, c] + jitter[t, c])

    all in logit units: ``node_bias ~ N(0, node_spread)`` per tensor; ``channel_bias ~ N(0,
    channel_spread)`` per channel, centred over the tensor's channels (so a tensor's mean logit is its
    ``node_bias``, what the fit's ``node_spread`` measures); ``drift_rate ~ N(0, drift_per_step)`` (logits
    per sampling step) per channel; ``wander`` a smooth excursion per channel (a stationary AR(2) series over
    the steps, standard deviation ``smooth_noise``, double root ``smooth_noise_root``) and ``jitter ~ N(0,
    step_noise)`` per (step, channel), as :mod:`workloads.step_noise` defines and fits them: measured
    channels wander smoothly from step to step, which is what a per-step detector relies on. The drift is
    defined per step, not per run: step
    ``t`` looks the same whatever ``steps`` is. ``anchor = (reference_steps - 1) / 2``, the middle of the
    reference horizon (the steps the defaults were fitted over), where a channel sits at its fitted mean.

    ``offset`` is solved by bisection so that the unweighted mean over all (node, step, channel) entries
    of the first ``reference_steps`` steps equals ``mean`` (to 1e-5); it never depends on ``steps``
    (steps beyond ``steps`` are drawn to solve it when the run is shorter). Hence a run of exactly
    ``reference_steps`` steps hits ``mean``; a shorter or longer run is near it, and runs much longer
    than the horizon drift towards 0.5 as the channels' drifts saturate them (defaults on ddpm-cifar10:
    0.651 at 10 steps, 0.650 at 20, 0.609 at 50, 0.544 at 200).

    Random draws: the per-tensor and per-channel terms first (tensor by tensor), then the noise step by
    step, so the first ``k`` steps of a longer profile equal the ``k``-step profile bit for bit (same
    parameters and seed). Nodes reading the same ReLU output get the same values, as measured profiles
    do. :func:`fit_synthetic_profile` is the inverse (parameters from a measured profile).
    """
    given = {"mean": mean, "node_spread": node_spread, "channel_spread": channel_spread,
             "drift_per_step": drift_per_step, "step_noise": step_noise, "smooth_noise": smooth_noise,
             "smooth_noise_root": smooth_noise_root, "reference_steps": reference_steps, "seed": seed}
    defaults = _defaults_file()[0]
    p = {k: (defaults[k] if v is None else v) for k, v in given.items()}
    _check_generator_params("synthetic profile", p)
    if not _is_count(steps, 1):
        raise WorkloadError(f"synthetic profile: steps={steps!r} must be a positive integer")
    ids = eligible_nodes(g)
    if not ids:
        raise WorkloadError(f"synthetic profile: graph '{g.graph.get('model')}' has no sparse-eligible node "
                            "(build it with --activation relu)")
    ref = p["reference_steps"]
    horizon = max(steps, ref)
    keys = {n: (g.nodes[n].get("sparse_source") or n, int(g.nodes[n]["in_channels"])) for n in ids}
    sources = list(dict.fromkeys(keys.values()))  # consumers of one ReLU tensor see the same zeros
    rng = np.random.default_rng(p["seed"])
    static = {}
    for key in sources:
        c = key[1]
        channel_bias = rng.normal(0, p["channel_spread"], size=c)
        # centred per tensor, so the tensor's mean logit is its node_bias (what the fit's node_spread measures)
        bias = rng.normal(0, p["node_spread"]) + (channel_bias - channel_bias.mean())
        static[key] = (bias, rng.normal(0, p["drift_per_step"], size=c))
    # Row t holds step t's noise of every tensor: drawing more steps only appends rows, and the wander is
    # causal (row t depends on rows <= t), so the prefix property holds.
    noise = add_step_noise(np.zeros((horizon, sum(k[1] for k in sources))), rng, p["step_noise"],
                           p["smooth_noise"], p["smooth_noise_root"])
    from_anchor_steps = (np.arange(horizon) - (ref - 1) / 2.0)[:, None]
    by_source, col = {}, 0
    for key in sources:
        bias, rate = static[key]
        by_source[key] = bias[None, :] + rate[None, :] * from_anchor_steps + noise[:, col:col + key[1]]
        col += key[1]
    logits = {n: by_source[keys[n]] for n in ids}
    if p["mean"] in (0.0, 1.0):
        off = None  # no finite offset: every entry is exactly 0 or 1
        zf = {n: np.full((steps, v.shape[1]), p["mean"], dtype=np.float32) for n, v in logits.items()}
        calib = {n: np.full(v.shape[1], p["mean"]) for n, v in logits.items()}
    else:
        mean_at = _MeanSigmoid(np.concatenate([v[:ref].ravel() for v in logits.values()]))
        lo, hi = -OFFSET_BRACKET_LOGIT, OFFSET_BRACKET_LOGIT
        for _ in range(OFFSET_MAX_ITERATIONS):
            mid = 0.5 * (lo + hi)
            if mean_at(mid) < p["mean"]:
                lo = mid
            else:
                hi = mid
            if hi - lo < OFFSET_TOLERANCE_LOGIT:
                break
        off = 0.5 * (lo + hi)
        zf = {n: _sigmoid(v[:steps] + off).astype(np.float32) for n, v in logits.items()}
        # calibration: the mean over the reference horizon, the same whatever the run's length
        calib = {n: _sigmoid(v[:ref] + off).mean(axis=0) for n, v in logits.items()}
    info = {"generator": "synthetic_profile", **p, "offset_logit": off}
    return SparsityProfile(kind="synthetic", model=str(g.graph.get("model", "")), steps=steps,
                           zero_fraction=zf, info=info, calibration_zero_fraction=calib)


def fit_synthetic_profile(zero_fraction: dict[str, np.ndarray], *, logit_clip: float | None = None) -> dict:
    """Fit :func:`synthetic_profile`'s parameters to a profile's zero fractions (``{node: [T, C]}``).

    The inverse of the generator, in logit space (fractions clipped to ``[logit_clip, 1 - logit_clip]``,
    default: the ``fit.logit_clip`` the shipped defaults were fitted with), with ``t`` the step index
    centred on the middle of the ``T`` steps: ``node_spread`` = std of the per-node mean logits;
    ``channel_spread`` (the per-channel mean logits around their node's mean), ``drift_per_step`` (the
    per-channel least-squares slopes over ``t``, logits per step), ``step_noise``, ``smooth_noise`` and
    ``smooth_noise_root`` (what is left after each channel's mean and slope, and how smooth it is over the
    steps) jointly by second moments, :func:`workloads.step_noise.fit_step_noise` (the wander's share of
    the channel means and slopes is not counted again in the first two); ``mean`` = the unweighted
    mean zero fraction (what the generator hits over ``reference_steps``); ``reference_steps`` = ``T``
    (the horizon the fit describes: the generator anchors the drift at its middle, as the fit does).
    """
    clip = _defaults_file()[1]["logit_clip"] if logit_clip is None else logit_clip
    if not (_is_number(clip) and 0.0 < clip < 0.5):
        raise WorkloadError(f"synthetic profile fit: logit_clip={clip!r} must be within (0, 0.5)")
    if not zero_fraction:
        raise WorkloadError("synthetic profile fit: no node to fit")
    lengths = {np.shape(a)[0] for a in zero_fraction.values()}
    if len(lengths) != 1:
        raise WorkloadError(f"synthetic profile fit: nodes have different step counts {sorted(lengths)}")
    steps = lengths.pop()
    node_means, logits, total, count = [], [], 0.0, 0
    for a in zero_fraction.values():
        a = np.asarray(a, np.float64)
        total += a.sum()
        count += a.size
        q = np.clip(a, clip, 1 - clip)
        L = np.log(q / (1 - q))
        node_means.append(L.mean())
        logits.append(L)
    return {"mean": float(total / count) if count else 0.0, "node_spread": float(np.std(node_means)),
            **fit_step_noise(logits), "reference_steps": int(steps), "logit_clip": clip}
