"""Writing a matplotlib figure: atomically (``components.fileio.atomic_path``), in the format its suffix names.

``.png``, ``.pdf`` and ``.svg`` are written (``components.fileio.IMAGE_SUFFIXES``); a path without a suffix gets
``.png`` and the returned path is the file written, so a caller can print exactly what exists.
"""
from __future__ import annotations

from pathlib import Path

from components.fileio import IMAGE_SUFFIXES, OutputPathError, atomic_path

__all__ = ["figure_path", "save_figure"]


def figure_path(path: str | Path) -> Path:
    """The path a figure for ``path`` is written to (``.png`` added when it has no suffix)."""
    path = Path(path)
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputPathError(f"figure {path}: suffix '{path.suffix}' is not one of {', '.join(IMAGE_SUFFIXES)}")
    return path


def save_figure(fig, path: str | Path, dpi: int) -> Path:
    """Write matplotlib figure ``fig`` to :func:`figure_path` ``(path)`` atomically, close it, return the path."""
    import matplotlib.pyplot as plt
    try:
        path = figure_path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=path.suffix[1:].lower())
    finally:
        plt.close(fig)
    return path
