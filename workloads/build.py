"""From a zoo name (or any module) to a workload graph: build, pick inputs, extract."""
from __future__ import annotations

import networkx as nx

from .zoo import get_model

__all__ = ["build_workload"]


def build_workload(model: str, *, resolution: int | None = None, activation: str = "silu", batch: int = 1,
                   cfg: bool = False) -> nx.DiGraph:
    """The workload graph of one network evaluation of zoo model ``model``.

    Built on the meta device (no weights allocated). ``batch`` images per evaluation; ``cfg=True``
    (classifier-free guidance) evaluates conditional and unconditional branches together, doubling it.
    """
    from .extract import extract_graph  # torch: imported when a graph is built, not with the package
    entry = get_model(model)
    res = entry.check_resolution(entry.default_resolution if resolution is None else resolution)
    net = entry.build(activation, res, device="meta")
    eff_batch = batch * (2 if cfg else 1)
    inputs = entry.example_inputs(eff_batch, res, device="meta")
    return extract_graph(net, inputs, name=model,
                         config={"resolution": res, "activation": activation, "batch": batch, "cfg": cfg,
                                 "effective_batch": eff_batch})
