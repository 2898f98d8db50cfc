"""Prepared plans: the tiling plans of one graph on one machine, kept on disk between runs.

The tiling search (:func:`des.mapping.plan_graph`: ~30 candidate tilings of every MAC node, each costed on
representative tiles) takes ~3 s for SD-1.5's 837 nodes, and a run of the same graph on the same machine
always finds the same plans. :func:`prepared_plans` reads them back (~0.1 s) when a valid entry exists,
else runs the search and stores its result. The entries live in the prepared-graph cache folder
(:func:`workloads.cache.cache_dir`: off under pytest unless ``SQDM_CACHE_DIR`` is set; ``sqdm cache
info|clear`` lists and removes them; ``--no-cache`` bypasses both caches).

**Key.** The SHA-256 of the graph (its workload-file JSON, keys sorted), of the machine the plans are for
(its configuration as JSON, every field), and of every source file of ``des/`` and ``components/`` (so any
change to a cost model makes new entries), of the expected zero fractions the sparse-eligible nodes are
costed with (the profile's calibration, :func:`des.mapping.representative_work`), the cache format
version and the installed versions (:func:`workloads.cache.package_versions`).

**Entry.** ``<model>-<24 hex of the key digest>.plans``, the header-and-checksum layout of a graph entry
(:func:`workloads.cache.read_entry`); the body is JSON ``{"fields": [...], "rows": [[...], ...]}``, one row
per node in execution order. Reading checks the header, the key, the checksum, that the fields are
:class:`des.plan.NodePlan`'s in order, every value's type, and that the rows name exactly the graph's
nodes, once each. Any failure means the entry is not trusted: one line ``sqdm: note: ...`` on stderr, the
search runs again and the entry is rewritten. A folder that cannot be written never fails a run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np

from components import HardwareConfig

from .plan import NodePlan
from .residency import Residency

__all__ = ["PLAN_CACHE_FORMAT", "PLAN_CACHE_VERSION", "plan_key", "prepared_plans"]

PLAN_CACHE_FORMAT = "sqdm-plan-cache"
PLAN_CACHE_VERSION = 1
_SUFFIX = ".plans"
_FIELDS = tuple(f.name for f in dataclasses.fields(NodePlan))
# JSON types a field may hold (NodePlan's annotations: an int field is a JSON integer; a float field may be
# written as either, e.g. 4 bits)
_TYPES = {f.name: {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}[str(f.type)]
          for f in dataclasses.fields(NodePlan)}
_MAX_PLAN_BYTES = 64 * 1024 * 1024


@lru_cache(maxsize=1)
def _sources() -> tuple[str, ...]:
    """Every source file of ``des/`` and ``components/`` (relative to the repository root), listed once."""
    root = Path(__file__).resolve().parent.parent
    return tuple(sorted(str(p.relative_to(root)) for folder in ("des", "components")
                        for p in (root / folder).rglob("*.py")))


def _sha(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def plan_key(g: nx.DiGraph, hw: HardwareConfig, expected_zero_fraction: dict | None = None) -> dict:
    """The cache key of ``g``'s plans on ``hw`` costed with ``expected_zero_fraction`` (module docstring)."""
    from workloads.cache import package_versions, source_digest
    from workloads.graphio import graph_to_dict
    return {"model": str(g.graph.get("model") or "graph"),
            "graph_sha256": _sha(json.dumps(graph_to_dict(g), sort_keys=True, separators=(",", ":"))),
            "hardware_sha256": _sha(hw.model_dump_json()), "source_sha256": source_digest(_sources()),
            "plan_cache_version": PLAN_CACHE_VERSION, "versions": package_versions(),
            "expected_zero_fraction_sha256": _zf_digest(expected_zero_fraction)}


def _zf_digest(expected: dict | None) -> str:
    """SHA-256 of the expected zero fractions (node names and float64 values, in name order); '' for none."""
    if not expected:
        return ""
    h = hashlib.sha256()
    for n in sorted(expected):
        h.update(n.encode("utf-8") + b"\0")
        h.update(np.ascontiguousarray(expected[n], dtype=np.float64).tobytes())
    return h.hexdigest()


def _entry_path(key: dict, folder: Path) -> Path:
    name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in key["model"])[:64] or "graph"
    digest = _sha(json.dumps(key, sort_keys=True, separators=(",", ":")))
    return folder / f"{name}-{digest[:24]}{_SUFFIX}"


def _encode(plans: dict[str, NodePlan]) -> bytes:
    rows = [[p.__dict__[f] for f in _FIELDS] for p in plans.values()]
    return json.dumps({"fields": list(_FIELDS), "rows": rows}, separators=(",", ":"), allow_nan=False).encode()


def _decode(body: bytes, g: nx.DiGraph, where: str) -> dict[str, NodePlan]:
    from workloads.errors import WorkloadFileError
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WorkloadFileError(f"{where}: body is not JSON") from None
    if not isinstance(data, dict) or data.get("fields") != list(_FIELDS) or not isinstance(data.get("rows"), list):
        raise WorkloadFileError(f"{where}: not the plan fields of this version")
    types = [_TYPES[f] for f in _FIELDS]
    plans: dict[str, NodePlan] = {}
    for row in data["rows"]:
        if not isinstance(row, list) or len(row) != len(_FIELDS):
            raise WorkloadFileError(f"{where}: a row of the wrong length")
        for f, v, t in zip(_FIELDS, row, types):
            if not isinstance(v, t) or (isinstance(v, bool) and bool not in t) or (
                    isinstance(v, float) and not math.isfinite(v)):
                raise WorkloadFileError(f"{where}: field '{f}' holds {type(v).__name__}")
        p = object.__new__(NodePlan)
        p.__dict__.update(zip(_FIELDS, row))
        if p.node in plans:
            raise WorkloadFileError(f"{where}: node '{p.node}' twice")
        plans[p.node] = p
    if plans.keys() != set(g.nodes):
        raise WorkloadFileError(f"{where}: plans for other nodes than the graph's")
    return plans


def prepared_plans(g: nx.DiGraph, hw: HardwareConfig, res: Residency,
                   expected_zero_fraction: dict | None = None) -> dict[str, NodePlan]:
    """``plan_graph(g, hw, res, expected_zero_fraction)``: from the cache when a valid entry exists (module
    docstring), else computed and stored (``res`` is :func:`des.residency.plan_residency` of ``g`` on
    ``hw``, so the key covers it)."""
    from workloads.cache import cache_dir, note, read_entry, write_entry
    from workloads.errors import WorkloadFileError

    from .mapping import plan_graph
    folder = cache_dir()
    if folder is None:
        return plan_graph(g, hw, res, expected_zero_fraction)
    key = plan_key(g, hw, expected_zero_fraction)
    path = _entry_path(key, folder)
    try:
        body = read_entry(path, key, fmt=PLAN_CACHE_FORMAT, version=PLAN_CACHE_VERSION, what="plan cache entry",
                          max_bytes=_MAX_PLAN_BYTES)
        return _decode(body, g, f"plan cache entry {path}")
    except FileNotFoundError:
        pass
    except (WorkloadFileError, OSError) as e:
        note(f"{e}; planning again")
    plans = plan_graph(g, hw, res, expected_zero_fraction)
    try:
        write_entry(path, key, _encode(plans), fmt=PLAN_CACHE_FORMAT, version=PLAN_CACHE_VERSION)
    except (OSError, TypeError, ValueError) as e:  # components.fileio.OutputPathError is a ValueError
        note(f"plan cache not written ({e}); the run goes on without it")
    return plans
