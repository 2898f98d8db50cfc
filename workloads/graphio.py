"""Workload files: a workload graph as versioned JSON (networkx node-link), read back losslessly.

File layout: ``{"format": "sqdm-workload", "format_version": 1, "graph": <node-link data>}``. Node and
edge attributes are JSON values (lists, never tuples), so writing then reading gives an equal graph.

Reading checks, in order: a regular file of at most ``components.fileio.limits.MAX_WORKLOAD_FILE_BYTES``; UTF-8 JSON
nested at most ``MAX_NESTING_DEPTH`` levels, with finite numbers only; format and version; then the schema
of :mod:`workloads.schema` (types, ranges, consistency). Writing is atomic (:func:`components.fileio.atomic_write_text`).
"""
from __future__ import annotations

import json
from pathlib import Path

import networkx as nx

from components.fileio import InputFileError, OutputPathError, atomic_write_text, load_json_text, read_input_text
from components.fileio.limits import MAX_WORKLOAD_FILE_BYTES

from .errors import WorkloadFileError
from .constants import GRAPH_FORMAT_VERSION
from .schema import check_graph_body

__all__ = ["write_graph", "read_graph", "graph_to_dict", "graph_from_dict", "FILE_FORMAT"]

FILE_FORMAT = "sqdm-workload"


def graph_to_dict(g: nx.DiGraph) -> dict:
    """The file's JSON object for graph ``g``."""
    return {"format": FILE_FORMAT, "format_version": GRAPH_FORMAT_VERSION,
            "graph": nx.node_link_data(g, edges="edges")}


def write_graph(g: nx.DiGraph, path: str | Path) -> Path:
    """Write ``g`` to ``path`` (JSON), atomically: a crash never leaves half a file."""
    path = Path(path)
    text = json.dumps(graph_to_dict(g), separators=(",", ":"))
    try:
        atomic_write_text(path, text)
    except OutputPathError as e:
        raise WorkloadFileError(f"workload file {e}") from None
    return path


def graph_from_dict(data: object, where: str = "workload") -> nx.DiGraph:
    """Rebuild a graph from the file's JSON object, checking format, version and required fields."""
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
        raise WorkloadFileError(f"{where}: not an sqdm workload file (missing \"format\": \"{FILE_FORMAT}\")")
    version = data.get("format_version")
    if type(version) is not int or version != GRAPH_FORMAT_VERSION:
        raise WorkloadFileError(f"{where}: format_version {version!r} is not supported (this sqdm-sim reads "
                                f"version {GRAPH_FORMAT_VERSION})")
    body = data.get("graph")
    check_graph_body(body, where)
    try:
        return nx.node_link_graph(body, directed=True, multigraph=False, edges="edges")
    except (KeyError, TypeError, ValueError, nx.NetworkXError) as e:  # pragma: no cover - the schema passed
        raise WorkloadFileError(f"{where}: malformed graph ({type(e).__name__}: {e})") from None


def read_graph(path: str | Path) -> nx.DiGraph:
    """Read a workload file; any problem is a one-line :class:`WorkloadFileError` naming the file."""
    try:
        text = read_input_text(path, "workload file", MAX_WORKLOAD_FILE_BYTES)
        data = load_json_text(text, f"workload file {path}")
    except InputFileError as e:
        raise WorkloadFileError(str(e)) from None
    return graph_from_dict(data, where=f"workload file {path}")
