"""Per-layer figures of a simulation Report (matplotlib; plots never simulate)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .figures import save_figure  # noqa: E402

__all__ = ["plot_layer_utilization"]


def plot_layer_utilization(reports: dict, path: str | Path, step: int = 0) -> Path:
    """Spatial utilization of the PE arrays (MACs / array MAC slots while computing) of every MAC layer, in
    execution order, one line per report (e.g. per machine); returns the path written."""
    fig, ax = plt.subplots(figsize=(11, 3.6))
    for label, r in reports.items():
        u = np.asarray(r.node_array_utilization)[:, step]
        idx = np.flatnonzero(~np.isnan(u))
        ax.plot(np.arange(len(idx)), 100 * u[idx], marker=".", lw=0.8, ms=4, label=f"{label} (mean "
                f"{100 * np.average(u[idx], weights=r.node_executed_macs[idx, step]):.1f}%, MAC-weighted)")
    ax.set_xlabel("MAC layer (execution order)")
    ax.set_ylabel("array utilization (%)")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{next(iter(reports.values())).model}: PE-array utilization per layer (evaluation {step})")
    fig.tight_layout()
    out = save_figure(fig, path, dpi=130)
    plt.close(fig)
    return out
