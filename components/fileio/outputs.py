"""Checking an output path before any work, so a bad ``--out`` fails in a second, not after the run.

Rules (``check_output_path``):

* the name is not empty and has no NUL; it is not an existing folder;
* an existing file there must be a regular file: a FIFO, device or socket is refused (writing would block
  or go somewhere else), and so is a **symbolic link** (replacing it would cut the link, writing through it
  would write somewhere the user did not name: name the link's target instead);
* figures (``suffixes`` given): a name without a suffix gets ``default_suffix`` appended, and the returned
  path (the one written and printed) carries it; another suffix is refused;
* the folder it goes in, or the nearest existing folder above it (missing folders are created when the
  file is written), must be a writable folder;
* the file name leaves room for the temporary name used by :func:`components.fileio.atomic_path`.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import OutputPathError

__all__ = ["IMAGE_SUFFIXES", "check_output_path", "check_output_folder", "check_distinct_outputs"]

IMAGE_SUFFIXES = (".png", ".pdf", ".svg")
"""Figure formats sqdm writes (matplotlib backends that need nothing beyond matplotlib itself)."""
_TEMP_NAME_OVERHEAD = 32  # "." + name + "." + 12 hex + ".tmp" + suffix, see atomic._temp_name


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _path_text(path: str | os.PathLike | None, what: str, noun: str) -> str:
    """The text of an output path, refused when empty or holding a NUL (``noun``: file or folder)."""
    text = os.fspath(path) if path is not None else ""
    if isinstance(text, bytes) or not str(text).strip():
        raise OutputPathError(f"{what}: empty {noun} name")
    if "\x00" in text:
        raise OutputPathError(f"{what} {text!r}: {noun} name contains a NUL character")
    return text


def check_output_path(path: str | os.PathLike, what: str, *, suffixes: tuple[str, ...] | None = None,
                      default_suffix: str | None = None) -> Path:
    """The path that will be written for output ``what`` (see the module docstring); OutputPathError if it
    cannot be."""
    text = _path_text(path, what, "file")
    p = Path(text)
    if text.endswith(os.sep) or p.name in ("", ".", ".."):
        raise OutputPathError(f"{what} {text}: names a folder, not a file")
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputPathError(f"{what} {p}: cannot be written ({e.strerror or e})") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{what} {p}: is a folder; name a file inside it")
    if suffixes is not None:
        if not p.suffix:
            p = p.with_name(p.name + (default_suffix or suffixes[0]))
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                st = None
            except OSError as e:
                raise OutputPathError(f"{what} {p}: cannot be written ({e.strerror or e})") from None
        elif p.suffix.lower() not in suffixes:
            raise OutputPathError(f"{what} {p}: suffix '{p.suffix}' is not one of {', '.join(suffixes)}")
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise OutputPathError(f"{what} {p}: is a symbolic link; sqdm does not write through links "
                                  "(name the link's target instead)")
        if stat.S_ISDIR(st.st_mode):
            raise OutputPathError(f"{what} {p}: is a folder; name a file inside it")
        if not stat.S_ISREG(st.st_mode):
            raise OutputPathError(f"{what} {p}: exists and is not a regular file (a FIFO, device or socket "
                                  "is never replaced)")
    probe = _writable_folder_above(p.parent, p, what)
    if len(p.name.encode("utf-8", "surrogateescape")) + _TEMP_NAME_OVERHEAD > _name_max(probe):
        raise OutputPathError(f"{what} {p}: file name too long ({len(p.name)} characters)")
    return p


def _identity(p: Path) -> str:
    return os.path.normcase(os.path.abspath(p))


def check_distinct_outputs(paths: dict[str, Path | None]) -> None:
    """Refuse two outputs (``what -> path``) that name the same file: the second would replace the first."""
    seen: dict[str, str] = {}
    for what, p in paths.items():
        if p is None:
            continue
        key = _identity(p)
        if key in seen:
            raise OutputPathError(f"{what} {p}: the same file as {seen[key]}; give each output its own name")
        seen[key] = what


def check_output_folder(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path if it is (or can be created as) a writable folder; else OutputPathError."""
    p = Path(_path_text(path, what, "folder"))
    _writable_folder_above(p, p, what)
    return p


def _writable_folder_above(start: Path, p: Path, what: str) -> Path:
    """The nearest existing folder at or above ``start`` (where missing folders would be created), checked
    to be a writable folder; OutputPathError naming output ``what`` at ``p`` otherwise."""
    probe = start
    while True:
        try:
            st = os.stat(probe)
        except FileNotFoundError:
            if probe == probe.parent:
                raise OutputPathError(f"{what} {p}: no existing folder above it") from None
            probe = probe.parent
            continue
        except OSError as e:
            raise OutputPathError(f"{what} {p}: folder {probe} cannot be used ({e.strerror or e})") from None
        break
    if not stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{what} {p}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {p}: folder {probe} is not writable")
    return probe
