"""Per-block summary of a workload graph, as a pandas DataFrame."""
from __future__ import annotations

import networkx as nx
import pandas as pd

__all__ = ["block_summary"]


def block_summary(g: nx.DiGraph) -> pd.DataFrame:
    """One row per UNet block in execution order, plus a ``total`` row.

    Columns: ``operations``, ``macs``, ``parameters`` (from the model), ``activation_elements`` (output
    elements of all operations), ``sparse_eligible_ops``.
    """
    rows: dict[str, dict] = {}
    for _, d in sorted(g.nodes(data=True), key=lambda nd: nd[1]["order"]):
        r = rows.setdefault(d["block"], {"block": d["block"], "operations": 0, "macs": 0, "parameters": 0,
                                         "activation_elements": 0, "sparse_eligible_ops": 0})
        r["operations"] += 1
        r["macs"] += int(d["macs"])
        r["activation_elements"] += int(d["output_elements"])
        r["sparse_eligible_ops"] += int(bool(d.get("sparse_eligible")))
    for block, n in g.graph.get("params_by_block", {}).items():
        rows.setdefault(block, {"block": block, "operations": 0, "macs": 0, "parameters": 0,
                                "activation_elements": 0, "sparse_eligible_ops": 0})["parameters"] += int(n)
    df = pd.DataFrame(list(rows.values()))
    total = {"block": "total", **{c: int(df[c].sum()) for c in df.columns if c != "block"}}
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)
