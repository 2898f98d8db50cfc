"""Fixtures of the study tests: a micro workload graph (3 convolutions, 2 ReLUs: sparse-eligible; annotated
with the SQ-DM precision policy already, so a worker never imports quant/torch), so that a point simulates in
~20 ms and a worker process starts at once; and a writer of scenario files."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.fixture(scope="session")
def micro_workload(tmp_path_factory) -> Path:
    import torch
    from torch import nn

    from quant.policy import apply_policy
    from workloads import extract_graph, write_graph

    class Micro(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.r1 = nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()
            self.c2, self.r2 = nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()
            self.c3 = nn.Conv2d(16, 8, 3, padding=1)

        def forward(self, x):
            return self.c3(self.r2(self.c2(self.r1(self.c1(x)))))

    path = tmp_path_factory.mktemp("micro") / "micro.workload.json"
    write_graph(apply_policy(extract_graph(Micro(), (torch.randn(1, 8, 8, 8),), name="micro"), "sqdm"), path)
    return path


@pytest.fixture
def write_scenario(tmp_path, micro_workload):
    """write_scenario(sweep=..., **top-level overrides) -> path of a scenario on the micro workload."""
    def write(sweep=None, name="t", run=None, hardware=None, raw=None, **extra) -> Path:
        doc = {"format": "sqdm-scenario", "format_version": 1, "name": name,
               "run": {"hw": "sqdm", "workload": str(micro_workload), "steps": 1, **(run or {})}}
        if hardware is not None:
            doc["hardware"] = hardware
        if sweep is not None:
            doc["sweep"] = sweep
        doc.update(extra)
        path = tmp_path / f"{name}.yaml"
        path.write_text(raw if raw is not None else yaml.safe_dump(doc, sort_keys=False))
        return path
    return write
