"""Per-layer PE-array utilization of ddpm-cifar10 on the shipped machines (first evaluation: every channel
dense on the dense machines, step 0's calibration labels on `sqdm`): writes docs/layer_utilization_ddpm.png
and prints a Markdown table of the layers by shape class.

Run: ``python bench/layer_utilization.py``
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from des.run import RunSpec, resolve_run
from des import simulate
from plots.layers import plot_layer_utilization

OUT = Path(__file__).resolve().parent.parent / "docs" / "layer_utilization_ddpm.png"


def _shape_class(d: dict) -> str:
    if d["kind"] == "matmul":
        return "attention matmul"
    if d["kind"] == "linear":
        return f"linear, {d['output_shape'][0]} row(s)"
    k = "x".join(map(str, d["conv"]["kernel"]))
    return f"{k} conv, {d['output_shape'][-1]}x{d['output_shape'][-2]} output"


def main() -> None:
    reports = {}
    for hw in ("fp16-dense", "int4-dense", "sqdm"):
        g, hwc, prof, _ = resolve_run(RunSpec(hw=hw, workload="ddpm-cifar10", steps=1))
        reports[hw] = (g, simulate(g, hwc, steps=1, profile=prof, progress=False))
    print(f"wrote {plot_layer_utilization({k: r for k, (_, r) in reports.items()}, OUT)}", file=sys.stderr)
    print("| layer class | layers | " + " | ".join(f"{hw}: utilization (min-max)" for hw in reports) + " |")
    print("|---|---|" + "---|" * len(reports))
    rows: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for hw, (g, r) in reports.items():
        for i, n in enumerate(r.node_ids):
            u = r.node_array_utilization[i, 0]
            if not np.isnan(u):
                rows[_shape_class(g.nodes[n])][hw].append((u, r.node_executed_macs[i, 0]))
    for cls in sorted(rows, key=lambda c: -sum(m for _, m in rows[c]["int4-dense"])):
        cells = []
        for hw in reports:
            v = rows[cls][hw]
            u = np.array([a for a, _ in v])
            w = np.array([m for _, m in v])
            cells.append(f"{100 * np.average(u, weights=w):.1f}% ({100 * u.min():.0f}-{100 * u.max():.0f}%)")
        print(f"| {cls} | {len(rows[cls]['int4-dense'])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
