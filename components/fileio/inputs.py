"""Reading a user's file safely: bounded size, regular files only, strict UTF-8, bounded JSON / YAML.

* :func:`check_input_file` refuses what is not a regular file (a folder, a FIFO, ``/dev/zero``, a socket)
  and a file above its size limit, from ``os.stat`` alone (nothing is read).
* :func:`read_input_bytes` reads at most ``limit + 1`` bytes, so a file that grows while read is refused too.
* :func:`load_json_text` measures the nesting depth before parsing and refuses ``NaN`` / ``Infinity`` and
  numbers that overflow to infinity (``1e999``).
* :func:`load_yaml_text` walks the YAML event stream first (libyaml's parser is iterative), refusing deep
  nesting, aliases and documents with too many nodes, then builds the objects with the safe loader.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

import numpy as np
import yaml

from .errors import InputFileError
from .limits import MAX_NESTING_DEPTH, MAX_YAML_NODES

__all__ = ["check_input_file", "read_input_bytes", "read_input_text", "json_depth", "load_json_text",
           "load_yaml_text", "check_yaml_file", "safe_load_yaml"]

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _as_path(path: str | os.PathLike, what: str) -> Path:
    text = os.fspath(path)
    if isinstance(text, bytes) or not text:
        raise InputFileError(f"{what}: empty file name")
    if "\x00" in text:
        raise InputFileError(f"{what} {text!r}: file name contains a NUL character")
    return Path(text)


def check_input_file(path: str | os.PathLike, what: str, limit_bytes: int) -> Path:
    """``path`` as a Path if it names a readable regular file of at most ``limit_bytes``; else InputFileError."""
    p = _as_path(path, what)
    try:
        st = os.stat(p)  # follows symbolic links: a link to a regular file is that file
    except FileNotFoundError:
        raise InputFileError(f"{what} {p}: not found") from None
    except OSError as e:
        raise InputFileError(f"{what} {p}: cannot read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputFileError(f"{what} {p}: is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{what} {p}: not a regular file (a FIFO, device or socket is not read)")
    if st.st_size > limit_bytes:
        raise InputFileError(f"{what} {p}: {st.st_size:,} bytes, more than the {limit_bytes:,}-byte limit "
                             "for this kind of file")
    return p


def read_input_bytes(path: str | os.PathLike, what: str, limit_bytes: int) -> bytes:
    """The bytes of regular file ``path`` (at most ``limit_bytes``); every failure is an InputFileError."""
    p = check_input_file(path, what, limit_bytes)
    try:
        with open(p, "rb") as f:
            data = f.read(limit_bytes + 1)
    except OSError as e:
        raise InputFileError(f"{what} {p}: cannot read ({e.strerror or e})") from None
    if len(data) > limit_bytes:
        raise InputFileError(f"{what} {p}: more than the {limit_bytes:,}-byte limit for this kind of file")
    return data


def read_input_text(path: str | os.PathLike, what: str, limit_bytes: int) -> str:
    """The UTF-8 text of ``path``; a binary file is an InputFileError naming the first bad byte."""
    data = read_input_bytes(path, what, limit_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{what} {path}: not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x}); "
                             "is it a binary file?") from None


def json_depth(text: str) -> int:
    """Deepest ``[`` / ``{`` nesting of JSON ``text`` (strings skipped); linear time, no recursion."""
    stripped = _JSON_STRING.sub("", text)
    b = np.frombuffer(stripped.encode("utf-8", "replace"), dtype=np.uint8)
    if not b.size:
        return 0
    step = (b == ord("[")).astype(np.int32) + (b == ord("{")) - (b == ord("]")) - (b == ord("}"))
    return int(max(np.cumsum(step).max(initial=0), 0))


def _finite_float(s: str) -> float:
    v = float(s)
    if not math.isfinite(v):
        raise ValueError(f"number {s} is out of range (not finite)")
    return v


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def load_json_text(text: str, where: str, max_depth: int = MAX_NESTING_DEPTH) -> object:
    """Parse JSON ``text`` whose nesting is at most ``max_depth``; ``NaN``, ``Infinity`` and ``1e999`` are
    refused. Every failure is one InputFileError line starting with ``where``."""
    depth = json_depth(text)
    if depth > max_depth:
        raise InputFileError(f"{where}: nested {depth} levels deep (limit {max_depth})")
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise InputFileError(f"{where}: not valid JSON, perhaps truncated (line {e.lineno}, column {e.colno}: "
                             f"{e.msg})") from None
    except (ValueError, RecursionError) as e:
        raise InputFileError(f"{where}: not valid JSON ({e})") from None


def _scan_yaml(text: str, where: str, max_depth: int, max_nodes: int) -> None:
    depth = nodes = 0
    try:
        for ev in yaml.parse(text, Loader=_SAFE_LOADER):
            if isinstance(ev, yaml.AliasEvent):
                raise InputFileError(f"{where}: YAML aliases (*name) are not accepted in sqdm input files "
                                     f"(line {ev.start_mark.line + 1})" if ev.start_mark else
                                     f"{where}: YAML aliases (*name) are not accepted in sqdm input files")
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                nodes += 1
                if depth > max_depth:
                    raise InputFileError(f"{where}: nested more than {max_depth} levels deep")
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(ev, yaml.ScalarEvent):
                nodes += 1
            if nodes > max_nodes:
                raise InputFileError(f"{where}: more than {max_nodes:,} YAML values")
    except yaml.YAMLError as e:
        raise InputFileError(f"{where}: {_yaml_problem(e)}") from None


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(e, "problem", None)
    if not problem:
        text = str(e).strip()
        problem = text.splitlines()[0] if text else type(e).__name__
    return f"invalid YAML{at}: {problem}"


def safe_load_yaml(text: str) -> object:
    """``yaml.safe_load`` with libyaml's loader where PyYAML has it (the same documents, ~10x faster): for
    the project's own data files and text whose limits were checked; raises what ``yaml.safe_load`` raises."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - the safe loader


def load_yaml_text(text: str, where: str, max_depth: int = MAX_NESTING_DEPTH,
                   max_nodes: int = MAX_YAML_NODES) -> object:
    """Parse YAML ``text`` with the safe loader after checking depth, aliases and node count; every
    failure is one InputFileError line starting with ``where``."""
    _scan_yaml(text, where, max_depth, max_nodes)
    try:
        return safe_load_yaml(text)
    except yaml.YAMLError as e:
        raise InputFileError(f"{where}: {_yaml_problem(e)}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as e:  # e.g. a timestamp out of range
        raise InputFileError(f"{where}: invalid YAML value ({type(e).__name__}: {e})") from None


def check_yaml_file(path: str | os.PathLike, what: str, limit_bytes: int) -> object:
    """Read and parse YAML file ``path`` under every limit above; returns the parsed document. Used before a
    loader that reads the file itself (e.g. the hardware-config loader of ``components``)."""
    return load_yaml_text(read_input_text(path, what, limit_bytes), f"{what} {path}")
