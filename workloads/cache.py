"""Prepared-graph cache: zoo workload graphs, extracted and policy-annotated, kept on disk between runs.

Extracting a zoo model (torch, ``torch.export``-style tracing, diffusers) takes seconds; reading the same graph
back from a JSON file takes a tenth of a second and needs no torch. :func:`prepared_graph` returns the graph
for a zoo model, activation, resolution, batch, guidance and precision policy: from the cache when a valid
entry exists, else built by the caller's function and stored. Only zoo models are cached (a workload file is
already a file).

**Where.** ``$SQDM_CACHE_DIR`` if set (non-empty), else ``$XDG_CACHE_HOME/sqdm-sim`` (an absolute
``XDG_CACHE_HOME``; a relative one is ignored, as the XDG spec says), else ``~/.cache/sqdm-sim``. While pytest
runs a test (``PYTEST_CURRENT_TEST`` is set; subprocesses inherit it) and ``SQDM_CACHE_DIR`` is not set, the
cache is off, so no test reads or writes the user's cache or shares entries with another test by accident;
tests of the cache set ``SQDM_CACHE_DIR`` to a temporary folder.

**Key.** Everything that changes the prepared graph (:func:`entry_key`): the model name, the resolution
(the model's default filled in), activation, batch, classifier-free guidance, the policy as given and the
SHA-256 of the policy file it names (a built-in name resolves to ``quant/policies/<name>.yaml``, as
``quant.policy.load_policy`` does), the versions of sqdm-sim, torch and diffusers (from the installed
distributions' metadata, without importing them), the workload-graph format version, the cache format
version :data:`CACHE_FORMAT_VERSION` (bumped when the entry layout changes) and the SHA-256 of the source
files that shape a prepared graph (:data:`SHAPING_SOURCES`: extraction, the zoo, activations, policies and
number formats). So editing the extractor or a policy in a checkout makes new entries without a version
bump; old entries are simply never read again (``sqdm cache clear`` removes them).

**Entry.** One file per key, ``<model>-<24 hex of the key digest>.graph``: a first line of JSON (format,
version, the full key, the body's byte count and SHA-256), then the body, the workload-file JSON of
:func:`workloads.graphio.graph_to_dict`. Reading checks, in order: a regular file within the workload-file
size limit, the header, the key (equal, not only its digest), the body's length and checksum, then the body
exactly as :func:`workloads.read_graph` checks a user's file (bounded JSON, format, schema), and that the
graph carries the policy's precision. Any failure means the entry is not trusted: one line
``sqdm: note: ...`` on stderr, the graph is rebuilt and the entry rewritten. Entries are written atomically
(:func:`components.fileio.atomic_write_bytes`); a cache folder that cannot be created or written never fails
a run (one note, then the run goes on uncached).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

import networkx as nx

from components.fileio import InputFileError, OutputPathError, atomic_write_bytes, load_json_text, read_input_bytes
from components.fileio.limits import MAX_WORKLOAD_FILE_BYTES, MAX_YAML_FILE_BYTES

from .constants import GRAPH_FORMAT_VERSION
from .errors import WorkloadFileError

__all__ = ["CACHE_FORMAT", "CACHE_FORMAT_VERSION", "SHAPING_SOURCES", "ENTRY_SUFFIXES", "cache_dir", "entry_key",
           "entry_path", "read_entry", "write_entry", "load_entry", "store_entry", "prepared_graph", "cache_entries",
           "clear_cache", "policy_file", "source_digest", "package_versions", "note"]

CACHE_FORMAT = "sqdm-graph-cache"
CACHE_FORMAT_VERSION = 1
ENTRY_SUFFIX = ".graph"
# what this module writes: entries, and the temporary files of interrupted atomic writes (components.fileio.atomic);
# ``sqdm cache clear`` removes these names only, whatever else a shared folder holds
# (graph entries, and the plan entries of des.plan_cache: ENTRY_SUFFIXES)
ENTRY_SUFFIXES = (".graph", ".plans")
_ENTRY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}-[0-9a-f]{24}\.(graph|plans)")
_TEMP_NAME = re.compile(r"\.[A-Za-z0-9_.-]{1,64}-[0-9a-f]{24}\.(graph|plans)\.[0-9a-f]{12}\.tmp\.(graph|plans)")
_MAX_HEADER_BYTES = 64 * 1024
_MAX_ENTRY_BYTES = MAX_WORKLOAD_FILE_BYTES + _MAX_HEADER_BYTES

# Source files (relative to the repository root, i.e. the folder holding the packages) whose code decides what a
# prepared graph contains. Their content hash is part of the key.
SHAPING_SOURCES = (
    "workloads/activations.py", "workloads/build.py", "workloads/constants.py", "workloads/extract.py",
    "workloads/graphio.py", "workloads/zoo/__init__.py", "workloads/zoo/spec.py", "workloads/zoo/unet.py",
    "quant/policy.py", "quant/formats.py", "quant/patterns.py", "quant/policy_schema.py",
)
_ROOT = Path(__file__).resolve().parent.parent
_DISTRIBUTIONS = ("sqdm-sim", "torch", "diffusers")


def note(msg: str) -> None:
    """One line ``sqdm: note: ...`` on stderr (a cache entry not trusted, a folder not writable)."""
    print(f"sqdm: note: {' '.join(msg.split())}", file=sys.stderr)


def cache_dir() -> Path | None:
    """The cache folder (see the module docstring), or None when the cache is off (under pytest without
    ``SQDM_CACHE_DIR``, or no home folder to put it in)."""
    env = os.environ.get("SQDM_CACHE_DIR")
    if env:
        return Path(env)
    if os.environ.get("PYTEST_CURRENT_TEST"):
        return None
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "sqdm-sim"
    try:
        return Path.home() / ".cache" / "sqdm-sim"
    except (RuntimeError, KeyError, OSError):
        return None


def _quant_policy_dir() -> Path | None:
    """``quant/policies`` without importing ``quant`` (its package imports torch)."""
    import importlib.util
    try:
        spec = importlib.util.find_spec("quant")
    except (ImportError, ValueError):
        return None
    locations = list(getattr(spec, "submodule_search_locations", None) or ())
    return Path(locations[0]).resolve() / "policies" if locations else None


def policy_file(policy: str) -> Path | None:
    """The YAML file ``quant.policy.load_policy(policy)`` reads: ``quant/policies/<name>.yaml`` for a
    built-in name (no suffix, no ``/``), else ``policy`` as a path; None if there is no such file."""
    if not policy or "\x00" in policy:
        return None
    p = Path(policy)
    try:
        if not p.suffix and "/" not in policy:
            d = _quant_policy_dir()
            if d is not None and (d / f"{policy}.yaml").is_file():
                return d / f"{policy}.yaml"
        return p if p.is_file() else None
    except OSError:  # e.g. a name too long for the file system
        return None


_SOURCE_DIGESTS: dict[tuple[str, ...], str] = {}


def source_digest(sources: tuple[str, ...] = SHAPING_SOURCES) -> str:
    """SHA-256 over the names and contents of ``sources`` (paths relative to the repository root; a missing
    file's absence is part of the digest), computed once per process."""
    digest = _SOURCE_DIGESTS.get(sources)
    if digest is None:
        h = hashlib.sha256()
        for rel in sources:
            h.update(rel.encode() + b"\0")
            try:
                h.update((_ROOT / rel).read_bytes())
            except OSError:  # an installed copy without some source: its absence is part of the digest
                h.update(b"<missing>")
            h.update(b"\0")
        digest = _SOURCE_DIGESTS[sources] = h.hexdigest()
    return digest


def package_versions() -> dict[str, str]:
    """Installed versions of sqdm-sim, torch and diffusers, from their metadata (nothing imported)."""
    return _versions()


def _versions() -> dict[str, str]:
    from importlib import metadata
    out = {}
    for dist in _DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "none"
    return out


def entry_key(model: str, *, resolution: int | None = None, activation: str = "silu", batch: int = 1,
              cfg: bool = False, policy: str | None = None) -> dict[str, Any] | None:
    """The cache key of a prepared zoo graph (module docstring), or None when it cannot be cached: not a zoo
    model, or a policy that names no readable file (building then reports the problem)."""
    from .zoo import ZOO
    entry = ZOO.get(model) if isinstance(model, str) else None
    if entry is None or not isinstance(activation, str) or type(batch) is not int or type(cfg) is not bool:
        return None
    res = entry.check_resolution(entry.default_resolution if resolution is None else resolution)
    key: dict[str, Any] = {"model": model, "resolution": res, "activation": activation, "batch": batch,
                           "cfg": cfg, "policy": None, "policy_sha256": None}
    if policy is not None:
        if not isinstance(policy, str):
            return None
        path = policy_file(policy)
        if path is None:
            return None
        try:
            data = read_input_bytes(path, "policy file", MAX_YAML_FILE_BYTES)
        except InputFileError:
            return None
        key.update(policy=policy, policy_sha256=hashlib.sha256(data).hexdigest())
    key.update(graph_format_version=GRAPH_FORMAT_VERSION, cache_format_version=CACHE_FORMAT_VERSION,
               versions=_versions(), source_sha256=source_digest())
    return key


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def entry_path(key: dict, folder: Path | None = None) -> Path | None:
    """The file of ``key``'s entry in ``folder`` (default :func:`cache_dir`); None when the cache is off."""
    folder = cache_dir() if folder is None else folder
    return None if folder is None else folder / f"{key['model']}-{_digest(key)[:24]}{ENTRY_SUFFIX}"


def read_entry(path: Path, key: dict, *, fmt: str = CACHE_FORMAT, version: int = CACHE_FORMAT_VERSION,
               what: str = "graph cache entry", max_bytes: int = _MAX_ENTRY_BYTES) -> bytes:
    """The body of the entry at ``path`` stored for ``key`` (a header line of JSON: format, version, key, the
    body's byte count and SHA-256; then the body), checked in that order; :class:`WorkloadFileError` (one
    line) if it is unreadable, not a ``fmt`` entry of ``version``, for another key, damaged or truncated.
    ``FileNotFoundError`` passes through as itself. Shared by every cache of the folder (graphs, plans)."""
    where = f"{what} {path}"
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        raw = read_input_bytes(path, what, max_bytes)
    except InputFileError as e:
        raise WorkloadFileError(str(e)) from None
    head, sep, body = raw.partition(b"\n")
    if not sep or len(head) > _MAX_HEADER_BYTES:
        raise WorkloadFileError(f"{where}: no header line")
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WorkloadFileError(f"{where}: header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != fmt:
        raise WorkloadFileError(f"{where}: not a {fmt} entry")
    if header.get("format_version") != version:
        raise WorkloadFileError(f"{where}: format_version {header.get('format_version')!r} is not {version}")
    if header.get("key") != key:
        raise WorkloadFileError(f"{where}: stored for another key")
    if header.get("body_bytes") != len(body) or header.get("body_sha256") != hashlib.sha256(body).hexdigest():
        raise WorkloadFileError(f"{where}: checksum mismatch (damaged or truncated)")
    return body


def write_entry(path: Path, key: dict, body: bytes, *, fmt: str = CACHE_FORMAT,
                version: int = CACHE_FORMAT_VERSION) -> None:
    """Write ``body`` as ``key``'s entry at ``path`` (:func:`read_entry`'s layout), atomically;
    OutputPathError/OSError if it cannot."""
    header = {"format": fmt, "format_version": version, "key": key,
              "body_bytes": len(body), "body_sha256": hashlib.sha256(body).hexdigest()}
    atomic_write_bytes(path, json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n" + body)


def load_entry(path: Path, key: dict, policy: str | None = None) -> nx.DiGraph:
    """The graph stored at ``path`` for ``key``; :class:`WorkloadFileError` (one line) if the entry is missing,
    unreadable, for another key, damaged or invalid. ``FileNotFoundError`` passes through as itself."""
    from .graphio import graph_from_dict
    where = f"graph cache entry {path}"
    body = read_entry(path, key)
    try:
        data = load_json_text(body.decode("utf-8"), where)
    except (UnicodeDecodeError, InputFileError) as e:
        raise WorkloadFileError(f"{where}: body unreadable ({type(e).__name__})") from None
    g = graph_from_dict(data, where=where)  # the schema every workload file passes
    prec = g.graph.get("precision")
    if policy is not None and not (isinstance(prec, dict) and isinstance(prec.get("policy"), str)):
        raise WorkloadFileError(f"{where}: graph carries no precision policy")
    return g


def store_entry(path: Path, key: dict, g: nx.DiGraph) -> None:
    """Write ``g`` as ``key``'s entry at ``path``, atomically; OutputPathError/OSError if it cannot."""
    from .graphio import graph_to_dict
    write_entry(path, key, json.dumps(graph_to_dict(g), separators=(",", ":")).encode("utf-8"))


def prepared_graph(model: str, build: Callable[[], nx.DiGraph], *, resolution: int | None = None,
                   activation: str = "silu", batch: int = 1, cfg: bool = False, policy: str | None = None,
                   use_cache: bool = True) -> nx.DiGraph:
    """The prepared graph of zoo ``model``: the cached entry for these settings when a valid one exists, else
    ``build()`` (which must extract the graph and apply ``policy``), stored for the next run.

    ``use_cache=False`` (``sqdm simulate --no-cache``) neither reads nor writes the cache. A damaged or stale
    entry is rebuilt and replaced; an unwritable cache folder costs one note on stderr, never the run.
    """
    key = entry_key(model, resolution=resolution, activation=activation, batch=batch, cfg=cfg, policy=policy) \
        if use_cache else None
    path = entry_path(key) if key is not None else None
    if path is None:
        return build()
    try:
        return load_entry(path, key, policy)
    except FileNotFoundError:
        pass
    except (WorkloadFileError, OSError) as e:
        note(f"{e}; rebuilding it")
    g = build()
    try:
        store_entry(path, key, g)
    except (OutputPathError, OSError, TypeError, ValueError) as e:
        note(f"graph cache not written ({e}); the run goes on without it")
    return g


def cache_entries(folder: Path | None = None) -> list[Path]:
    """The entry files in the cache folder (sorted), or [] when the cache is off or empty."""
    folder = cache_dir() if folder is None else folder
    if folder is None:
        return []
    try:
        return sorted(p for p in folder.iterdir() if _ENTRY_NAME.fullmatch(p.name) and p.is_file())
    except OSError:
        return []


def clear_cache(folder: Path | None = None) -> tuple[int, int]:
    """Remove every entry (and stale temporary files of interrupted writes); (files removed, bytes freed)."""
    folder = cache_dir() if folder is None else folder
    if folder is None:
        return 0, 0
    n = freed = 0
    try:
        candidates = [p for p in folder.iterdir() if _ENTRY_NAME.fullmatch(p.name) or _TEMP_NAME.fullmatch(p.name)]
    except OSError:
        return 0, 0
    for p in candidates:
        try:
            if p.is_symlink() or not p.is_file():
                continue
            size = p.stat().st_size
            p.unlink()
        except OSError:
            continue
        n += 1
        freed += size
    return n, freed
