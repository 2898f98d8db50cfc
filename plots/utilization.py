"""Utilization over time of every component of a simulation Report (matplotlib; plots never simulate).

The figure is written by :func:`plots.figures.save_figure` (atomic; .png, .pdf or .svg; .png added when the
path has no suffix).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .figures import save_figure  # noqa: E402

__all__ = ["plot_utilization"]


def plot_utilization(report, path: str | Path) -> Path:
    """One line per component: busy fraction per time bin against simulated time (ms); returns the path written."""
    tl = report.utilization_timeline
    n = len(next(iter(tl.values()))) if tl else 0
    t_ms = (np.arange(n) + 0.5) * report.timeline_bin_cycles / (report.clock_ghz * 1e6)
    fig, ax = plt.subplots(figsize=(9, 4))
    for comp, series in sorted(tl.items()):
        ax.plot(t_ms, np.asarray(series) * 100, label=f"{comp} ({100 * report.utilization[comp]:.0f}% avg)", lw=1.2)
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("utilization (% of bin busy)")
    ax.set_ylim(0, 105)
    ax.set_title(f"{report.model} on {report.hardware}: {report.steps} step(s), policy {report.policy}")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
