"""Utilization over time of every component of a simulation Report (matplotlib; plots never simulate).

One lane per component (stacked, sharing the time axis): the busy share of each time bin as a filled
area, the run's average as a dashed line and in the lane's label, and the sampling-step boundaries as
vertical lines across every lane (labelled on top), so components no longer hide each other's lines.

The figure is written by :func:`plots.figures.save_figure` (atomic; .png, .pdf or .svg; .png added when the
path has no suffix). ``report`` may be a :class:`des.report.Report` or its JSON document (a dict).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .figures import save_figure  # noqa: E402

__all__ = ["plot_utilization", "COMPONENT_ORDER"]

COMPONENT_ORDER = ("dram", "global_buffer", "dense_cluster.local_buffer", "dense_cluster",
                   "sparse_cluster.local_buffer", "sparse_cluster", "vector_unit", "detector")
_COLORS = {"dram": "tab:brown", "global_buffer": "tab:purple", "dense_cluster": "tab:blue",
           "dense_cluster.local_buffer": "tab:cyan", "sparse_cluster": "tab:orange",
           "sparse_cluster.local_buffer": "gold", "vector_unit": "tab:green", "detector": "tab:red"}


def _get(report: Any, key: str) -> Any:
    return report[key] if isinstance(report, dict) else getattr(report, key)


def plot_utilization(report: Any, path: str | Path) -> Path:
    """Stacked lanes, one per component: busy share per time bin against simulated time (ms), step
    boundaries marked; returns the path written."""
    tl: dict[str, list[float]] = dict(_get(report, "utilization_timeline"))
    avg: dict[str, float] = dict(_get(report, "utilization"))
    clock_ghz = float(_get(report, "clock_ghz"))
    bin_cycles = float(_get(report, "timeline_bin_cycles"))
    per_step = np.asarray(_get(report, "cycles_per_step"), dtype=float)
    comps = sorted(tl, key=lambda c: (COMPONENT_ORDER.index(c) if c in COMPONENT_ORDER else 99, c))
    n = len(next(iter(tl.values()))) if tl else 0
    ms_per_cycle = 1.0 / (clock_ghz * 1e6)
    edges = np.arange(n + 1) * bin_cycles * ms_per_cycle
    fig_h = 0.75 * max(len(comps), 1) + 1.3
    fig, axes = plt.subplots(max(len(comps), 1), 1, figsize=(10, fig_h), sharex=True, squeeze=False)
    axes = axes[:, 0]
    bounds = np.cumsum(per_step)[:-1] * ms_per_cycle
    for ax, comp in zip(axes, comps):
        y = np.asarray(tl[comp], dtype=float) * 100
        ax.stairs(y, edges, fill=True, color=_COLORS.get(comp, "tab:gray"), alpha=0.75, lw=0)
        a = 100 * float(avg.get(comp, float(np.mean(y) / 100 if n else 0.0)))
        ax.axhline(a, color="black", lw=0.8, ls="--")
        ax.set_ylim(0, 100)
        ax.set_yticks([0, 50, 100])
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel(f"{comp}\n{a:.0f}% avg", rotation=0, ha="right", va="center", fontsize=8)
        for b in bounds:
            ax.axvline(b, color="0.15", lw=0.9, ls="-", alpha=0.8)
        ax.grid(axis="y", lw=0.3, alpha=0.5)
    if len(per_step) > 1 and len(comps):
        top = axes[0]
        starts = np.concatenate([[0.0], np.cumsum(per_step)[:-1]]) * ms_per_cycle
        label_every = max(1, len(per_step) // 20)
        for t in range(0, len(per_step), label_every):
            top.text(starts[t] + 0.5 * per_step[t] * ms_per_cycle, 104, f"step {t}" if t == 0 else str(t),
                     ha="center", va="bottom", fontsize=6, color="0.3")
    axes[-1].set_xlabel("simulated time (ms); vertical lines: sampling-step boundaries")
    if n:
        axes[-1].set_xlim(0, edges[-1])
    fig.suptitle(f"{_get(report, 'model')} on {_get(report, 'hardware')}: {_get(report, 'steps')} step(s), "
                 f"policy {_get(report, 'policy')} — busy share per time bin (% of bin)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.subplots_adjust(hspace=0.15)
    return save_figure(fig, path, dpi=120)
