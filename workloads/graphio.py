"""Workload files: a workload graph as versioned JSON (networkx node-link), read back losslessly.

File layout: ``{"format": "sqdm-workload", "format_version": 1, "graph": <node-link data>}``. Node and
edge attributes are JSON values (lists, never tuples), so writing then reading gives an equal graph.
"""
from __future__ import annotations

import json
from pathlib import Path

import networkx as nx

from .errors import WorkloadFileError
from .extract import GRAPH_FORMAT_VERSION

__all__ = ["write_graph", "read_graph", "graph_to_dict", "graph_from_dict", "FILE_FORMAT"]

FILE_FORMAT = "sqdm-workload"
_REQUIRED_NODE_KEYS = ("op", "kind", "macs", "output_shape", "block", "order")


def graph_to_dict(g: nx.DiGraph) -> dict:
    """The file's JSON object for graph ``g``."""
    return {"format": FILE_FORMAT, "format_version": GRAPH_FORMAT_VERSION,
            "graph": nx.node_link_data(g, edges="edges")}


def write_graph(g: nx.DiGraph, path: str | Path) -> Path:
    """Write ``g`` to ``path`` (JSON); written to a temporary file first so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(graph_to_dict(g), separators=(",", ":")))
        tmp.replace(path)
    except OSError as e:
        raise WorkloadFileError(f"workload file {path}: cannot write ({e.strerror or e})") from None
    return path


def graph_from_dict(data: object, where: str = "workload") -> nx.DiGraph:
    """Rebuild a graph from the file's JSON object, checking format, version and required fields."""
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
        raise WorkloadFileError(f"{where}: not an sqdm workload file (missing \"format\": \"{FILE_FORMAT}\")")
    version = data.get("format_version")
    if version != GRAPH_FORMAT_VERSION:
        raise WorkloadFileError(f"{where}: format_version {version!r} is not supported (this sqdm-sim reads "
                                f"version {GRAPH_FORMAT_VERSION})")
    body = data.get("graph")
    if not isinstance(body, dict) or not isinstance(body.get("nodes"), list) or \
            not isinstance(body.get("edges"), list):
        raise WorkloadFileError(f"{where}: field 'graph' must hold 'nodes' and 'edges' lists")
    try:
        g = nx.node_link_graph(body, directed=True, multigraph=False, edges="edges")
    except (KeyError, TypeError, ValueError, nx.NetworkXError) as e:
        raise WorkloadFileError(f"{where}: malformed graph ({type(e).__name__}: {e})") from None
    for n, d in g.nodes(data=True):
        missing = [k for k in _REQUIRED_NODE_KEYS if k not in d]
        if missing:
            raise WorkloadFileError(f"{where}: node '{n}' lacks field(s) {', '.join(missing)}")
    if not nx.is_directed_acyclic_graph(g):
        raise WorkloadFileError(f"{where}: the graph has a cycle; a workload must be a DAG")
    return g


def read_graph(path: str | Path) -> nx.DiGraph:
    """Read a workload file; any problem is a one-line :class:`WorkloadFileError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise WorkloadFileError(f"workload file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkloadFileError(f"workload file {path}: cannot read ({e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise WorkloadFileError(f"workload file {path}: not valid JSON, perhaps truncated "
                                f"(line {e.lineno}, column {e.colno}: {e.msg})") from None
    return graph_from_dict(data, where=f"workload file {path}")
