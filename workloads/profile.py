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
from pathlib import Path

import networkx as nx
import numpy as np

from .errors import ProfileMismatchError, WorkloadError, WorkloadFileError

__all__ = ["SparsityProfile", "synthetic_profile", "eligible_nodes", "PROFILE_FORMAT_VERSION"]

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
        """Write the profile (``.npz``); written to a temporary file first, then renamed."""
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
        tmp = path.with_name(path.name + ".tmp.npz")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(tmp, **arrays)
            tmp.replace(path)
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


def synthetic_profile(g: nx.DiGraph, steps: int, *, mean: float = 0.65, channel_spread: float = 1.0,
                      node_spread: float = 0.5, step_drift: float = 1.0, step_noise: float = 0.1,
                      seed: int = 0) -> SparsityProfile:
    """A seeded synthetic profile for ``g``'s eligible nodes, hitting ``mean`` to within 1e-5.

    Zero fractions are ``sigmoid(offset + node_bias + channel_bias + drift * s + noise)`` with ``s`` going
    from -0.5 (first step) to +0.5 (last step): ``node_spread``, ``channel_spread`` and ``step_noise`` are
    the standard deviations (logit units) of the per-tensor, per-channel and per-(step, channel) terms,
    ``step_drift`` the standard deviation of each channel's total drift over the run. ``offset`` is
    solved by bisection so the unweighted mean over all entries equals ``mean``. The defaults are
    placeholders until fitted to a measured profile (see ``quant``); the fitted values are recorded in
    the measured profile's ``info``. Nodes reading the same ReLU output get the same values, as measured
    profiles do.
    """
    for name, v in (("channel_spread", channel_spread), ("node_spread", node_spread),
                    ("step_drift", step_drift), ("step_noise", step_noise)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise WorkloadError(f"synthetic profile: {name}={v!r} must be a finite number >= 0")
    if not (isinstance(mean, (int, float)) and 0.0 <= mean <= 1.0):
        raise WorkloadError(f"synthetic profile: mean={mean!r} must be within [0, 1]")
    if not isinstance(steps, int) or steps <= 0:
        raise WorkloadError(f"synthetic profile: steps={steps!r} must be a positive integer")
    ids = eligible_nodes(g)
    if not ids:
        raise WorkloadError(f"synthetic profile: graph '{g.graph.get('model')}' has no sparse-eligible node "
                            "(build it with --activation relu)")
    rng = np.random.default_rng(seed)
    s = (np.arange(steps) / max(steps - 1, 1) - 0.5)[:, None]
    by_source: dict[tuple[str, int], np.ndarray] = {}  # consumers of one ReLU tensor see the same zeros
    logits = {}
    for n in ids:
        c = int(g.nodes[n]["in_channels"])
        key = (g.nodes[n].get("sparse_source") or n, c)
        if key not in by_source:
            base = rng.normal(0, node_spread) + rng.normal(0, channel_spread, size=c)[None, :]
            drift = rng.normal(0, step_drift, size=c)[None, :] * s
            by_source[key] = base + drift + rng.normal(0, step_noise, size=(steps, c))
        logits[n] = by_source[key]
    flat = np.concatenate([v.ravel() for v in logits.values()])

    def mean_at(off: float) -> float:
        return float(np.mean(1.0 / (1.0 + np.exp(-(flat + off)))))

    if mean in (0.0, 1.0):
        zf = {n: np.full_like(v, mean, dtype=np.float32) for n, v in logits.items()}
    else:
        lo, hi = -60.0, 60.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if mean_at(mid) < mean:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-12:
                break
        off = 0.5 * (lo + hi)
        zf = {n: (1.0 / (1.0 + np.exp(-(v + off)))).astype(np.float32) for n, v in logits.items()}
    info = {"generator": "synthetic_profile", "mean": mean, "channel_spread": channel_spread,
            "node_spread": node_spread, "step_drift": step_drift, "step_noise": step_noise, "seed": seed}
    return SparsityProfile(kind="synthetic", model=str(g.graph.get("model", "")), steps=steps,
                           zero_fraction=zf, info=info)
