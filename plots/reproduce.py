"""Figures of the paper reproduction (``sqdm reproduce``), drawn from its tables and metrics; never simulates.

* :func:`plot_energy_by_level` — energy by component / memory level per machine (stacked bars, uJ);
* :func:`plot_speedup_vs_sparsity` — SQ-DM's speed-up over the same machine with the detector off against
  the mean zero fraction, with the ideal curve (only the skipped MACs' time removed);
* :func:`plot_component_lanes` — the busy fraction of every component over simulated time, one lane each,
  step boundaries marked;
* :func:`plot_tornado` — the headline speed-up and energy reduction over each assumption's range.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .figures import save_figure  # noqa: E402

__all__ = ["plot_energy_by_level", "plot_speedup_vs_sparsity", "plot_component_lanes", "plot_tornado"]


def plot_energy_by_level(energy_by_machine: dict[str, dict[str, float]], path: str | Path, title: str = "") -> Path:
    """Stacked bars: for each machine, dynamic energy (mJ) by component and memory level, plus static
    (``energy_by_machine`` in pJ)."""
    machines = list(energy_by_machine)
    levels = sorted({lvl for d in energy_by_machine.values() for lvl in d},
                    key=lambda lv: -max(d.get(lv, 0.0) for d in energy_by_machine.values()))
    fig, ax = plt.subplots(figsize=(8, 4.2))
    bottom = np.zeros(len(machines))
    cmap = plt.get_cmap("tab10")
    for i, lvl in enumerate(levels):
        vals = np.array([energy_by_machine[m].get(lvl, 0.0) / 1e9 for m in machines])
        ax.bar(machines, vals, bottom=bottom, label=lvl, color=cmap(i % 10))
        bottom += vals
    ax.set_ylabel("energy per run (mJ)")
    ax.set_xlabel("machine")
    ax.set_title(title or "energy by component and level")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_speedup_vs_sparsity(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Speed-up over the detector-off machine against mean zero fraction, measured and ideal."""
    rows = sorted(rows, key=lambda r: r["mean_zero_fraction"])
    x = [r["mean_zero_fraction"] * 100 for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(x, [r["speedup_vs_off"] for r in rows], "o-", label="SQ-DM (per-step labels, balanced placement)")
    if all(r.get("mac_layers_speedup_vs_off") for r in rows):
        ax.plot(x, [r["mac_layers_speedup_vs_off"] for r in rows], "s:",
                label="the same, MAC layers only (a layer simulator's scope, e.g. STONNE)")
    ax.plot(x, [r["ideal_speedup"] for r in rows], "k--", label="ideal: only the skipped MACs' time removed")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("mean zero fraction of the sparse-eligible activations (%)")
    ax.set_ylabel("speed-up over detector off (x)")
    ax.set_title(title or "speed-up vs sparsity")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_component_lanes(timeline: dict[str, list[float]], bin_cycles: float, clock_ghz: float,
                         step_end_cycles: list[float], path: str | Path, title: str = "") -> Path:
    """One lane per component (busy fraction per time bin as a heat strip), dotted lines at step ends."""
    comps = sorted(timeline)
    data = np.array([timeline[c] for c in comps]) * 100 if comps else np.zeros((0, 1))
    n = data.shape[1] if data.size else 1
    t_end_ms = n * bin_cycles / (clock_ghz * 1e6)
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(comps), 1) + 1.4))
    im = ax.imshow(data, aspect="auto", cmap="viridis", vmin=0, vmax=100, interpolation="nearest",
                   extent=(0.0, t_end_ms, len(comps) - 0.5, -0.5))
    ax.set_yticks(range(len(comps)))
    ax.set_yticklabels(comps, fontsize=8)
    for end in step_end_cycles[:-1]:
        ax.axvline(end / (clock_ghz * 1e6), color="white", lw=0.6, ls=":")
    ax.set_xlabel("simulated time (ms); dotted: step boundaries")
    ax.set_title(title or "component utilization over time")
    cb = fig.colorbar(im, ax=ax, pad=0.01)
    cb.set_label("busy (% of bin)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_tornado(rows: list[dict], base_speedup: float, base_energy_reduction: float, path: str | Path,
                 title: str = "") -> Path:
    """Two panels: the headline speed-up (x) and energy reduction (%) at each assumption's low and high value."""
    rows = [r for r in rows if "low_speedup" in r and "high_speedup" in r]
    rows.sort(key=lambda r: abs(r["high_speedup"] - r["low_speedup"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.5 * max(len(rows), 1) + 1.6), sharey=True)
    y = np.arange(len(rows))
    for ax, key, base, scale, unit in ((axes[0], "speedup", base_speedup, 1.0, "SQ-DM speed-up vs FP16 (x)"),
                                       (axes[1], "energy_reduction", base_energy_reduction, 100.0,
                                        "SQ-DM energy reduction vs FP16 (%)")):
        for i, r in enumerate(rows):
            lo, hi = r[f"low_{key}"] * scale, r[f"high_{key}"] * scale
            ax.barh(i, lo - base * scale, left=base * scale, color="tab:blue", alpha=0.7)
            ax.barh(i, hi - base * scale, left=base * scale, color="tab:orange", alpha=0.7)
            ax.text(lo, i, f" {r['low_value']} ", va="center", ha="right" if lo < base * scale else "left", fontsize=7)
            ax.text(hi, i, f" {r['high_value']} ", va="center", ha="left" if hi >= base * scale else "right", fontsize=7)
        ax.axvline(base * scale, color="k", lw=0.8)
        ax.set_xlabel(unit)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels([r["assumption"] for r in rows], fontsize=8)
    fig.suptitle(title or "sensitivity of the headline to the assumptions (blue: low value, orange: high)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
