"""Figures of a sweep from its results (a DataFrame of ``des.store``; plots never simulate).

* :func:`plot_curves`: a metric against a swept field, one line per value of another (``hue``);
* :func:`plot_heatmap`: a metric over two swept fields, values written in the cells;
* :func:`plot_pareto`: latency against energy, area as colour, the points no other point beats on all three
  (latency, energy, area) ringed and labelled, the latency-energy front drawn.

Every axis says what it shows and in which unit (:func:`column_label`). Failed points are left out (and
counted in the title).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .figures import save_figure  # noqa: E402

__all__ = ["PlotError", "plot_curves", "plot_heatmap", "plot_pareto", "pareto_mask", "column_label", "swept_columns"]

class PlotError(ValueError):
    """A figure that cannot be drawn from the results as asked (a column that is not there, no points)."""


# metric -> (label, unit family); the unit's prefix is chosen from the values (_SCALES)
_METRICS = {
    "seconds": ("latency of the run", "s"),
    "seconds_per_image": ("latency per image", "s"),
    "total_cycles": ("cycles of the run", "count"),
    "energy_pj": ("energy of the run", "pJ"),
    "energy_pj_per_image": ("energy per image", "pJ"),
    "energy_dynamic_pj": ("dynamic energy", "pJ"),
    "energy_static_pj": ("static energy", "pJ"),
    "images_per_second": ("throughput", "images/s"),
    "area_mm2": ("area", "mm²"),
    "dram_read_bytes": ("DRAM read", "B"),
    "dram_write_bytes": ("DRAM written", "B"),
    "dram_moved_bytes": ("DRAM traffic", "B"),
    "macs_graph": ("MACs of the graph", "count"),
    "macs_dense_executed": ("MACs on the dense array", "count"),
    "macs_sparse_executed": ("MACs on the sparse array", "count"),
    "macs_skipped": ("MACs skipped (zeros)", "count"),
    "detector_label_accuracy": ("detector label accuracy", "%"),
    "wall_seconds": ("host time to simulate", "s"),
}
# unit family -> [(unit, factor from the stored value)], smallest first
_SCALES = {
    "s": [("ns", 1e9), ("µs", 1e6), ("ms", 1e3), ("s", 1.0)],
    "pJ": [("pJ", 1.0), ("nJ", 1e-3), ("µJ", 1e-6), ("mJ", 1e-9), ("J", 1e-12)],
    "B": [("B", 1.0), ("kB", 1e-3), ("MB", 1e-6), ("GB", 1e-9)],
    "count": [("", 1.0), ("thousands", 1e-3), ("millions", 1e-6), ("G", 1e-9)],
    "%": [("%", 100.0)],
}
_RUN_FIELDS = {
    "run.batch": "batch (images per evaluation)", "run.steps": "sampler steps", "run.cfg": "classifier-free guidance",
    "run.synthetic_mean": "mean zero fraction of the profile", "run.seed": "profile seed", "run.workload": "workload",
    "run.hw": "base hardware", "run.policy": "precision policy", "run.resolution": "resolution (pixels)",
    "run.sampler": "sampler", "run.activation": "activation", "run.profile": "sparsity profile",
}
_SUFFIX_UNITS = (("_gbytes_per_s", "GB/s"), ("_bytes_per_cycle_per_port", "B/cycle/port"), ("_bytes", "B"),
                 ("_cycles", "cycles"), ("_ghz", "GHz"), ("_mw", "mW"), ("_pj_per_bit", "pJ/bit"),
                 ("_pj_per_byte", "pJ/B"), ("_per_cycle", "/cycle"), ("_fraction", "fraction"), ("_mm2", "mm²"))


def _scaled(family: str, values: Optional[Any]) -> tuple[str, float]:
    """The unit of ``family`` whose prefix puts the typical (median absolute) value in [1, 1000)."""
    scales = _SCALES.get(family)
    if scales is None:
        return family, 1.0
    v = np.asarray(values if values is not None else [], dtype=float)
    v = np.abs(v[np.isfinite(v)])
    typical = float(np.median(v)) if v.size else None
    choice = scales[min(len(scales) - 1, 2)] if typical is None and family == "s" else scales[0]
    if typical is not None:
        for unit, f in scales:
            if typical * f < 1000:
                choice = (unit, f)
                break
        else:
            choice = scales[-1]
    return choice


def column_label(col: str, values: Optional[Any] = None) -> tuple[str, float]:
    """(axis label with its unit, factor to apply to the values) of a results column; ``values`` (the data)
    picks the unit's prefix (ms or s, µJ or mJ, ...)."""
    if col in _METRICS:
        what, family = _METRICS[col]
        unit, f = _scaled(family, values)
        return (f"{what} ({unit})" if unit else what), f
    if col in _RUN_FIELDS:
        return _RUN_FIELDS[col], 1.0
    for prefix, what, factor in (("utilization.", "busy share (%)", 100.0),
                                 ("array_utilization.", "MAC-slot use while computing (%)", 100.0),
                                 ("area_mm2.", "area (mm²)", 1.0), ("multipliers.", "multipliers (count)", 1.0)):
        if col.startswith(prefix):
            return f"{col[len(prefix):]} {what}", factor
    if col.startswith("hardware."):
        field = col[len("hardware."):]
        if field.endswith("multipliers"):
            return f"{field} (count)", 1.0
        if field.endswith("threshold"):
            return f"{field} (zero fraction)", 1.0
        for suffix, unit in _SUFFIX_UNITS:
            if field.endswith(suffix):
                return f"{field} ({unit})", 1.0
        return field, 1.0
    return col, 1.0


def swept_columns(df: pd.DataFrame) -> list[str]:
    """The swept fields among ``df``'s columns (``run.*`` / ``hardware.*``), in column order."""
    return [c for c in df.columns if c.startswith(("run.", "hardware."))]


def _follows(df: pd.DataFrame, col: str, by: Sequence[str]) -> bool:
    """Whether ``col`` takes one value per combination of ``by`` (a zip partner of those fields)."""
    by = [b for b in by if b in df.columns]
    if not by:
        return False
    return bool((df.groupby(by, dropna=False)[col].nunique(dropna=False) <= 1).all())


def _ok(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    if ok.empty:
        raise PlotError(f"plot: no finished point to draw ({len(df)} failed)" if len(df) else "plot: no points")
    return ok, len(df) - len(ok)


def _need(df: pd.DataFrame, cols: Iterable[Optional[str]]) -> None:
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        raise PlotError(f"plot: no column {', '.join(missing)} in the results (columns: "
                         f"{', '.join(swept_columns(df))}, and metrics such as seconds, energy_pj, area_mm2)")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _title(default: str, title: Optional[str], failed: int, width: int = 80) -> str:
    import textwrap
    t = (title or default) + (f" ({failed} failed point(s) left out)" if failed else "")
    return textwrap.fill(t, width)


def _baseline_mask(df: pd.DataFrame, baseline: Optional[dict]) -> np.ndarray:
    if not baseline:
        return np.zeros(len(df), dtype=bool)
    m = np.ones(len(df), dtype=bool)
    for k, v in baseline.items():
        if k not in df.columns:
            return np.zeros(len(df), dtype=bool)
        col = df[k]
        if isinstance(v, (dict, list)):
            v = json.dumps(v, sort_keys=True)
        if _numeric(col) and isinstance(v, (int, float)) and not isinstance(v, bool):
            m &= np.isclose(col.to_numpy(dtype=float), float(v))
        else:
            m &= (col.astype(str) == str(v)).to_numpy()
    return m


def plot_curves(df: pd.DataFrame, x: str, y: str, path: str | Path, *, hue: Optional[str] = None,
                title: Optional[str] = None, baseline: Optional[dict] = None) -> Path:
    """``y`` (a metric) against ``x`` (a swept field or metric), one line per value of ``hue`` and of any
    other swept field; the ``baseline`` point (swept values) starred."""
    _need(df, (x, y, hue))
    ok, failed = _ok(df)
    xl, xf = column_label(x, ok[x] if _numeric(ok[x]) else None)
    yl, yf = column_label(y, ok[y])
    others = [c for c in swept_columns(ok) if c not in (x, hue) and ok[c].nunique(dropna=False) > 1
              and not _follows(ok, c, [x] + ([hue] if hue else []))]
    keys = ([hue] if hue else []) + others
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    numeric_x = _numeric(ok[x])
    cats = list(dict.fromkeys(ok[x].tolist())) if not numeric_x else None
    groups = ok.groupby(keys, sort=True, dropna=False) if keys else [((), ok)]
    for key, g in groups:
        g = g.sort_values(x) if numeric_x else g
        xs = g[x].to_numpy() * xf if numeric_x else np.array([cats.index(v) for v in g[x]])
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{column_label(k)[0].split(' (')[0]}={_fmt(v)}" for k, v in zip(keys, key)) or None
        ax.plot(xs, g[y].to_numpy() * yf, marker="o", ms=4, lw=1.4, label=label)
    b = _baseline_mask(ok, baseline)
    if b.any():
        bx = ok[x].to_numpy()[b] * xf if numeric_x else np.array([cats.index(v) for v in ok[x][b]])
        ax.plot(bx, ok[y].to_numpy()[b] * yf, marker="*", ms=15, color="black", ls="none", label="default",
                zorder=5)
    if cats is not None:
        ax.set_xticks(range(len(cats)), [_fmt(c) for c in cats], rotation=20 if len(cats) > 4 else 0)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.grid(alpha=0.3)
    if keys or b.any():
        ax.legend(fontsize=7, loc="best")
    ax.set_title(_title(f"{yl.split(' (')[0]} vs {xl.split(' (')[0]}", title, failed), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_heatmap(df: pd.DataFrame, x: str, y: str, z: str, path: str | Path, *, title: Optional[str] = None,
                 cmap: str = "viridis") -> Path:
    """``z`` (a metric, mean over the other swept fields) over swept fields ``x`` and ``y``, values in the cells."""
    _need(df, (x, y, z))
    ok, failed = _ok(df)
    xl, _ = column_label(x)
    yl, _ = column_label(y)
    zl, zf = column_label(z, ok[z])
    table = ok.pivot_table(index=y, columns=x, values=z, aggfunc="mean") * zf
    fig, ax = plt.subplots(figsize=(1.1 * max(table.shape[1], 3) + 2.5, 0.6 * max(table.shape[0], 3) + 1.8))
    im = ax.imshow(table.to_numpy(dtype=float), aspect="auto", cmap=cmap, origin="lower")
    ax.set_xticks(range(table.shape[1]), [_fmt(c) for c in table.columns], rotation=20 if table.shape[1] > 5 else 0)
    ax.set_yticks(range(table.shape[0]), [_fmt(c) for c in table.index])
    vals = table.to_numpy(dtype=float)
    finite = vals[np.isfinite(vals)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            if np.isfinite(vals[i, j]):
                ax.text(j, i, f"{vals[i, j]:.3g}", ha="center", va="center", fontsize=7,
                        color="white" if vals[i, j] < mid else "black")
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    fig.colorbar(im, ax=ax, label=zl)
    ax.set_title(_title(f"{zl.split(' (')[0]} over {xl.split(' (')[0]} x {yl.split(' (')[0]}", title, failed,
                        width=max(40, int(9 * fig.get_figwidth()))), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Rows of ``values`` [points, objectives] (all minimized) that no other row dominates (no worse in every
    objective, better in one)."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        if not np.all(np.isfinite(v[i])):
            mask[i] = False
            continue
        dominated = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        mask[i] = not dominated.any()
    return mask


def plot_pareto(df: pd.DataFrame, path: str | Path, *, objectives: Sequence[str] = ("seconds", "energy_pj", "area_mm2"),
                label_fields: Optional[Sequence[str]] = None, title: Optional[str] = None,
                baseline: Optional[dict] = None) -> Path:
    """Latency against energy (the first two objectives), the third as colour; the Pareto-optimal points
    over all objectives ringed and labelled with their swept values; the ``baseline`` point starred."""
    _need(df, objectives)
    ok, failed = _ok(df)
    ok = ok.reset_index(drop=True)
    xl, xf = column_label(objectives[0], ok[objectives[0]])
    yl, yf = column_label(objectives[1], ok[objectives[1]])
    x = ok[objectives[0]].to_numpy(dtype=float) * xf
    y = ok[objectives[1]].to_numpy(dtype=float) * yf
    front = pareto_mask(ok[list(objectives)].to_numpy(dtype=float))
    fig, ax = plt.subplots(figsize=(7.5, 5))
    if len(objectives) > 2:
        cl, cf = column_label(objectives[2], ok[objectives[2]])
        c = ok[objectives[2]].to_numpy(dtype=float) * cf
        if np.nanmax(c) - np.nanmin(c) > 1e-3 * max(abs(np.nanmax(c)), 1e-12):
            sc = ax.scatter(x, y, c=c, cmap="viridis", s=28, zorder=3)
            fig.colorbar(sc, ax=ax, label=cl)
        else:
            ax.scatter(x, y, s=28, color="tab:blue", zorder=3, label=f"all at {cl.split(' (')[0]} {c[0]:.3g}"
                                                                          f"{' ' + cl.split('(')[-1].rstrip(')') if '(' in cl else ''}")
    else:
        ax.scatter(x, y, s=28, color="tab:blue", zorder=3)
    ax.scatter(x[front], y[front], s=110, facecolors="none", edgecolors="red", lw=1.5, zorder=4,
               label="Pareto-optimal (" + ", ".join(column_label(o)[0].split(" (")[0] for o in objectives) + ")")
    two = pareto_mask(np.c_[x, y])
    order = np.argsort(x[two])
    ax.step(x[two][order], y[two][order], where="post", color="red", lw=0.8, alpha=0.6, zorder=2)
    fields = list(label_fields) if label_fields is not None else []
    if label_fields is None:
        for c in swept_columns(ok):
            if ok[c].nunique() > 1 and not _follows(ok, c, fields):
                fields.append(c)
    for i in np.flatnonzero(front)[:25]:
        text = ", ".join(f"{f.split('.')[-1]}={_fmt(ok.at[i, f])}" for f in fields)
        if text:
            ax.annotate(text, (x[i], y[i]), fontsize=6, xytext=(4, 4), textcoords="offset points")
    b = _baseline_mask(ok, baseline)
    if b.any():
        ax.plot(x[b], y[b], marker="*", ms=15, color="black", ls="none", label="default", zorder=5)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(_title(f"Pareto front: {len(ok)} point(s), {int(front.sum())} optimal", title, failed), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
