"""Heatmaps of measured (or synthetic) sparsity profiles: zero fraction per input channel over steps.

Plots never simulate: they read a ``workloads.SparsityProfile`` (or its ``.npz`` file).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_sparsity_heatmap"]


def plot_sparsity_heatmap(profile, node_id: str | None = None, path: str | Path = "sparsity_heatmap.png",
                          *, include: str | None = None, title: str | None = None, dpi: int = 130) -> Path:
    """Write a heatmap PNG of ``profile`` (a SparsityProfile or a path to one), atomically, and return the path
    written (``.png`` appended when ``path`` has no suffix).

    ``node_id``: one node (rows = its input channels); ``None``: every node, channels stacked in execution
    order with the node boundaries drawn (y ticks name the nodes); ``include`` (an fnmatch pattern over
    node ids, e.g. ``"*:conv2d"``) keeps only some nodes. x = sampling step (0 = noisiest evaluation),
    colour = zero fraction in [0, 1].
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from workloads.errors import WorkloadError
    from workloads.profile_file import read_profile

    from .figures import save_figure

    prof = read_profile(profile) if isinstance(profile, (str, Path)) else profile
    if node_id is not None:
        if node_id not in prof.zero_fraction:
            raise WorkloadError(f"heatmap: node '{node_id}' is not in the profile (e.g. '{prof.node_ids[0]}')")
        ids = [node_id]
    else:
        import fnmatch
        ids = [n for n in prof.node_ids if include is None or fnmatch.fnmatchcase(n, include)]
        if not ids:
            raise WorkloadError(f"heatmap: no profile node matches '{include}'")
    mats = [prof.zero_fraction[n].T for n in ids]  # [C, T] each
    data = np.concatenate(mats, axis=0)
    height = 4.0 if node_id else min(3.0 + data.shape[0] / 250.0, 14.0)
    fig, ax = plt.subplots(figsize=(7.5, height))
    im = ax.imshow(data, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0, vmax=1.0,
                   extent=(-0.5, prof.steps - 0.5, data.shape[0] - 0.5, -0.5))
    ax.set_xlabel("sampling step (0 = noisiest network evaluation)")
    if node_id:
        ax.set_ylabel("input channel (index)")
    else:
        ax.set_ylabel("input channel (index, nodes stacked in execution order)")
        edges = np.cumsum([m.shape[0] for m in mats])
        for e in edges[:-1]:
            ax.axhline(e - 0.5, color="white", lw=0.4)
        mids = np.concatenate([[0], edges[:-1]]) + np.array([m.shape[0] for m in mats]) / 2
        ax.set_yticks(mids - 0.5)
        ax.set_yticklabels([n.split(":")[0] for n in ids], fontsize=5)
    cb = fig.colorbar(im, ax=ax)
    cb.set_label("zero fraction (of the input values of a channel)")
    mean = float(np.mean(np.concatenate([m.ravel() for m in mats])))
    ax.set_title(title or f"{prof.kind} sparsity, {prof.model}" + (f" - {node_id}" if node_id else f" - {include}" if include else "")
                 + f" (mean {mean:.1%})", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)
