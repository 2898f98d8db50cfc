"""Atomic file writing: the final name appears complete or not at all, whatever happens meanwhile.

:func:`atomic_path` yields a fresh temporary name in the target's own folder (so the final rename never
crosses file systems), unique per call (``.<name>.<12 random hex>.tmp<suffix>``, created with ``O_EXCL``, so
two writers never share one and a crash leaves at most one hidden temporary file, never a half-written
output); the caller writes it with any library (``savefig``, ``to_csv``, ``torch.save``, ``np.savez``: the
temporary name keeps the final suffix, so format inference still works); on success it is flushed to disk
and renamed over the final name, on any failure it is removed. Missing parent folders are created.
An existing output keeps its permission bits. A symbolic link, folder, FIFO or device at the final name is
refused, never replaced (see :mod:`components.fileio.outputs`).
"""
from __future__ import annotations

import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import OutputPathError

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


def _temp_name(final: Path) -> str:
    return f".{final.name[:80]}.{secrets.token_hex(6)}.tmp{final.suffix[:16]}"


def _existing_mode(final: Path) -> int | None:
    try:
        st = os.lstat(final)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise OutputPathError(f"{final}: is a symbolic link; sqdm does not write through links")
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"{final}: exists and is not a regular file; not replaced")
    return stat.S_IMODE(st.st_mode)


@contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a unique temporary path next to ``final``; rename it to ``final`` when the block succeeds."""
    final = Path(final)
    tmp: Path | None = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        mode = _existing_mode(final)
        for _ in range(16):
            cand = final.parent / _temp_name(final)
            try:
                fd = os.open(cand, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            os.close(fd)
            tmp = cand
            break
        else:  # pragma: no cover - 16 collisions of 48 random bits
            raise OutputPathError(f"{final}: could not create a temporary file next to it")
        if mode is not None:
            os.chmod(tmp, mode)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _existing_mode(final)  # refuse a link / FIFO that appeared meanwhile
        os.replace(tmp, final)
        tmp = None
    except OSError as e:
        raise OutputPathError(f"{final}: cannot write ({e.strerror or e})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    return atomic_write_bytes(path, text.encode(encoding))
