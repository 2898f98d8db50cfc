"""Time-step-aware sparsity detector and its pluggable label policies.

At time step t, as a layer's post-ReLU outputs are written back, the detector counts zeros per output
channel (`observe`); a policy turns the counts into an estimate of each channel's zero fraction at a later
step (`estimate`) and labels (True = sparse: estimated zero fraction > threshold) used when that tensor is
consumed (`labels`). The controller places work on the arrays from labels and estimates
(:mod:`components.placement`). Given the true zero fractions at the step of use, `labels` also counts
wrong labels: "wrong_sparse_labels" (sent compressed but dense: costs time there) and
"wrong_dense_labels" (sparse, but run uncompressed: a lost saving).

Policies (registry by name, `register_policy` to add one):
- per_step: every step's counts update the labels (the paper's choice);
- every_k: only counts observed at steps t with t % k == 0 update the labels (with a two-evaluation
  sampler such as Heun, one step of the simulator is one network evaluation: k = 2 updates on the first
  evaluation of each sampler step only, per_step on both);
- static: labels from calibration zero fractions, never updated (no counting cost);
- oracle: labels from the true zero fractions at the step of use (an upper bound; no cost);
- off: no detector at all: every channel is dense, nothing is counted (the machine without the idea).
Before a layer has any counts (step 0), per_step / every_k use the calibration zero fractions when the
run has them, else `initial_label`.

Cost of an accepted update: `update_latency_cycles` per pass over `channels` hardware counters (a
layer with more output channels takes ceil(C / channels) passes), "zero_count_elements" and
"label_updates" (one per channel) counters priced by EnergyModel.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar, Generator, Mapping

import numpy as np
import simpy

from .config import DETECTOR, DetectorConfig
from .energy import LABEL_UPDATES, ZERO_COUNT_ELEMENTS
from .stats import ActivityRecorder


def labels_from_zero_fraction(zero_fraction: np.ndarray, threshold: float) -> np.ndarray:
    """Per-channel labels: True (sparse) where the zero fraction exceeds `threshold`."""
    return np.asarray(zero_fraction, dtype=float) > threshold


def _fractions(layer: str, zero_fraction: np.ndarray) -> np.ndarray:
    """``zero_fraction`` as a flat float array, checked to lie in [0, 1] (NaN and infinities fail)."""
    zf = np.asarray(zero_fraction, dtype=float).ravel()
    if zf.size and not (zf.min() >= 0.0 and zf.max() <= 1.0):  # NaN fails both comparisons
        raise ValueError(f"zero fractions of layer {layer!r} must be in [0, 1]")
    return zf


@dataclass(frozen=True)
class PolicyContext:
    """What a policy may look at to label one layer's channels for one step."""

    layer: str
    step: int
    channels: int
    threshold: float
    initial_label: str
    last_zero_fraction: np.ndarray | None  # from the most recent accepted update
    last_update_step: int | None
    calibration: np.ndarray | None
    true_zero_fraction: np.ndarray | None


class LabelPolicy(ABC):
    """A rule deciding which observed counts update the labels, and what the labels are.

    A policy implements :meth:`estimate` (labels follow from the threshold) or overrides :meth:`labels`
    directly; then the controller's estimate falls back to the labels (see :meth:`SparsityDetector.estimate`)."""

    name: ClassVar[str] = ""
    counts_zeros: ClassVar[bool] = True  # False: no detector hardware works (policy "off")

    @abstractmethod
    def accepts_update(self, step: int) -> bool:
        """Whether zero counts written at `step` update the labels (and cost an update)."""

    def estimate(self, ctx: PolicyContext) -> np.ndarray | None:
        """Estimated zero fraction of each of ctx.channels channels at ctx.step (None: not provided)."""
        return None

    def labels(self, ctx: PolicyContext) -> np.ndarray:
        """Boolean labels (True = sparse) of ctx.channels channels for ctx.step."""
        est = self.estimate(ctx)
        if est is None:
            raise NotImplementedError(f"policy {self.name!r} implements neither estimate() nor labels()")
        return labels_from_zero_fraction(est, ctx.threshold)

    @staticmethod
    def _initial(ctx: PolicyContext) -> np.ndarray:
        """Before any count: the calibration zero fractions, else all channels at `initial_label`."""
        if ctx.calibration is not None:
            return ctx.calibration
        return np.full(ctx.channels, 1.0 if ctx.initial_label == "sparse" else 0.0)


_REGISTRY: dict[str, Callable[[DetectorConfig], LabelPolicy]] = {}


def register_policy(name: str) -> Callable[[type[LabelPolicy]], type[LabelPolicy]]:
    """Class decorator: register a policy class under `name` (built as cls(cfg))."""

    def deco(cls: type[LabelPolicy]) -> type[LabelPolicy]:
        cls.name = name
        _REGISTRY[name] = cls  # type: ignore[assignment]
        return cls

    return deco


def registered_policies() -> tuple[str, ...]:
    """Names of all registered policies."""
    return tuple(_REGISTRY)


def make_policy(cfg: DetectorConfig) -> LabelPolicy:
    """Build the policy named by cfg.policy."""
    try:
        return _REGISTRY[cfg.policy](cfg)
    except KeyError:
        raise ValueError(f"unknown detector policy {cfg.policy!r}; known: {', '.join(_REGISTRY)}") from None


def _from_last(ctx: PolicyContext) -> np.ndarray:
    return LabelPolicy._initial(ctx) if ctx.last_zero_fraction is None else ctx.last_zero_fraction


@register_policy("per_step")
class PerStepPolicy(LabelPolicy):
    """Labels from the latest counts; every step updates them."""

    def __init__(self, cfg: DetectorConfig):
        self.cfg = cfg

    def accepts_update(self, step: int) -> bool:
        return True

    def estimate(self, ctx: PolicyContext) -> np.ndarray:
        return _from_last(ctx)


@register_policy("every_k")
class EveryKPolicy(LabelPolicy):
    """Labels from the counts of the latest step that is a multiple of k."""

    def __init__(self, cfg: DetectorConfig):
        if cfg.k is None:
            raise ValueError("policy every_k needs detector.k")
        self.k = cfg.k

    def accepts_update(self, step: int) -> bool:
        return step % self.k == 0

    def estimate(self, ctx: PolicyContext) -> np.ndarray:
        return _from_last(ctx)


@register_policy("static")
class StaticPolicy(LabelPolicy):
    """Labels fixed from calibration zero fractions; never updated."""

    def __init__(self, cfg: DetectorConfig):
        self.cfg = cfg

    def accepts_update(self, step: int) -> bool:
        return False

    def estimate(self, ctx: PolicyContext) -> np.ndarray:
        if ctx.calibration is None:
            raise ValueError(f"static policy: no calibration zero fractions for layer {ctx.layer!r}")
        return ctx.calibration


@register_policy("oracle")
class OraclePolicy(LabelPolicy):
    """Labels from the true zero fractions at the step of use (upper bound, free)."""

    def __init__(self, cfg: DetectorConfig):
        self.cfg = cfg

    def accepts_update(self, step: int) -> bool:
        return False

    def estimate(self, ctx: PolicyContext) -> np.ndarray:
        if ctx.true_zero_fraction is None:
            raise ValueError(f"oracle policy needs the true zero fractions of layer {ctx.layer!r} at step {ctx.step}")
        return ctx.true_zero_fraction


@register_policy("off")
class OffPolicy(LabelPolicy):
    """No detector: every channel is dense and nothing is counted (the ablation of the idea)."""

    counts_zeros = False

    def __init__(self, cfg: DetectorConfig):
        self.cfg = cfg

    def accepts_update(self, step: int) -> bool:
        return False

    def estimate(self, ctx: PolicyContext) -> np.ndarray:
        return np.zeros(ctx.channels)


class SparsityDetector:
    """The detector in the controller (see the module docstring)."""

    def __init__(
        self,
        env: simpy.Environment,
        cfg: DetectorConfig,
        stats: ActivityRecorder | None = None,
        name: str = DETECTOR,
        calibration: Mapping[str, np.ndarray] | None = None,
        policy: LabelPolicy | None = None,
    ):
        self.env = env
        self.cfg = cfg
        self.stats = stats if stats is not None else ActivityRecorder()
        self.name = name
        self.policy = policy if policy is not None else make_policy(cfg)
        self.calibration = {k: np.asarray(v, dtype=float) for k, v in (calibration or {}).items()}
        self._last: dict[str, tuple[int, np.ndarray]] = {}
        self.wrong_by_layer: dict[str, int] = {}

    def update_cycles(self, channels: int) -> float:
        """Latency of one accepted update of a layer with `channels` output channels."""
        return self.cfg.update_latency_cycles * math.ceil(channels / self.cfg.channels)

    def observe(
        self, layer: str, step: int, zero_fraction: np.ndarray, elements: float | None = None, tag: str = ""
    ) -> Generator[simpy.events.Event, object, bool]:
        """Process body: zero counts of `layer`'s output channels written at `step` (`elements`: values
        counted, for energy). Returns whether the policy took the update."""
        return self._observe(layer, step, _fractions(layer, zero_fraction), elements, tag)

    def _observe(
        self, layer: str, step: int, zf: np.ndarray, elements: float | None, tag: str
    ) -> Generator[simpy.events.Event, object, bool]:
        if not self.policy.accepts_update(step):
            return False
        start = self.env.now
        latency = self.update_cycles(zf.size)
        if latency:
            yield self.env.timeout(latency)
        self.stats.record(self.name, "update", start, self.env.now, tag or f"{layer}@{step}")
        self._last[layer] = (step, zf.copy())
        self.stats.add_many(
            self.name,
            {ZERO_COUNT_ELEMENTS: float(elements or 0.0), LABEL_UPDATES: zf.size, "label_update_events": 1},
        )
        return True

    def assume_update(self, layer: str, step: int, zero_fraction: np.ndarray) -> None:
        """Take the state an accepted update of `layer`'s counts at `step` leaves (the labels of later steps),
        without its time or counters: a simulation that starts mid-loop resumes from it."""
        if not self.policy.accepts_update(step):
            raise ValueError(f"policy {self.policy.name!r} takes no update at step {step}")
        self._last[layer] = (step, _fractions(layer, zero_fraction).copy())

    def _context(self, layer: str, step: int, true: np.ndarray | None, channels: int | None) -> PolicyContext:
        last = self._last.get(layer)
        calib = self.calibration.get(layer)
        n = channels
        for arr in (true, None if last is None else last[1], calib):
            if n is None and arr is not None:
                n = arr.size
        if n is None:
            raise ValueError(f"labels of layer {layer!r}: channel count unknown (pass channels= or true_zero_fraction=)")
        return PolicyContext(
            layer=layer,
            step=step,
            channels=n,
            threshold=self.cfg.threshold,
            initial_label=self.cfg.initial_label,
            last_zero_fraction=None if last is None else last[1],
            last_update_step=None if last is None else last[0],
            calibration=calib,
            true_zero_fraction=true,
        )

    def assess(self, layer: str, step: int, true_zero_fraction: np.ndarray | None = None,
               channels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(labels, estimate) of `layer`'s channels used at `step`: labels True = sparse, and the zero
        fractions they come from (what the controller places work by; for a policy that gives labels only,
        its labels as the calibration value where one exists, else 1 for sparse and 0 for dense). With
        `true_zero_fraction`, wrong labels are counted ("wrong_labels", "wrong_sparse_labels",
        "wrong_dense_labels")."""
        true = None if true_zero_fraction is None else np.asarray(true_zero_fraction, dtype=float).ravel()
        ctx = self._context(layer, step, true, channels)
        n = ctx.channels
        est = self.policy.estimate(ctx)
        lab = np.asarray(self.policy.labels(ctx), dtype=bool)
        if lab.size != n:
            raise ValueError(f"layer {layer!r}: policy gave {lab.size} labels for {n} channels")
        if est is None:
            fallback = ctx.calibration if ctx.calibration is not None else np.ones(n)
            est = np.where(lab, np.maximum(fallback, np.nextafter(ctx.threshold, 1.0)),
                           np.minimum(fallback, ctx.threshold))
        est = np.asarray(est, dtype=float).ravel()
        if est.size != n:
            raise ValueError(f"layer {layer!r}: policy gave {est.size} estimates for {n} channels")
        if true is not None:
            if true.size != n:
                raise ValueError(f"layer {layer!r}: {true.size} true zero fractions for {n} channels")
            truth = labels_from_zero_fraction(true, self.cfg.threshold)
            wrong_sparse = int(np.count_nonzero(lab & ~truth))
            wrong_dense = int(np.count_nonzero(~lab & truth))
            self.stats.add_many(
                self.name,
                {
                    "wrong_labels": wrong_sparse + wrong_dense,
                    "wrong_sparse_labels": wrong_sparse,
                    "wrong_dense_labels": wrong_dense,
                    "labels_used": n,
                },
            )
            self.wrong_by_layer[layer] = self.wrong_by_layer.get(layer, 0) + wrong_sparse + wrong_dense
        return lab, est

    def labels(self, layer: str, step: int, true_zero_fraction: np.ndarray | None = None,
               channels: int | None = None) -> np.ndarray:
        """Labels (True = sparse) of `layer`'s channels used at `step` (see :meth:`assess`)."""
        return self.assess(layer, step, true_zero_fraction, channels)[0]

    @property
    def wrong_labels(self) -> int:
        """Wrong labels counted so far (all layers)."""
        return int(self.stats.counter(self.name, "wrong_labels"))
