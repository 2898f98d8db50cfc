"""DES vs the analytical model on every zoo model and shipped machine: whole-network and per-node errors.

Run: ``python bench/des_vs_analytical.py`` (one evaluation each, default policy and synthetic profile).
Per-node error = (DES - analytical) / analytical over nodes of at least 100 analytical cycles.
"""
from __future__ import annotations

import numpy as np

from components import list_shipped_configs
from des.run import RunSpec, run
from workloads import list_models


def main() -> None:
    print("| model | machine | DES cycles | analytical cycles | whole-network error | per-node median abs error | per-node p90 | per-node max (node) |")
    print("|---|---|---|---|---|---|---|---|")
    for model in list_models():
        for hw in list_shipped_configs():
            r = run(RunSpec(hw=hw, workload=model, steps=1), progress=False)
            des, ana = r.node_cycles[:, 0], r.analytical_node_cycles[:, 0]
            sel = ana >= 100
            err = (des[sel] - ana[sel]) / ana[sel]
            worst = int(np.argmax(np.abs(err))) if sel.any() else 0
            name = np.asarray(r.node_ids)[sel][worst] if sel.any() else "-"
            tot = (des.sum() - ana.sum()) / ana.sum()
            print(f"| {model} | {hw} | {des.sum():,.0f} | {ana.sum():,.0f} | {100 * tot:+.2f}% | "
                  f"{100 * np.median(np.abs(err)):.2f}% | {100 * np.percentile(np.abs(err), 90):.2f}% | "
                  f"{100 * err[worst]:+.1f}% (`{name}`) |")


if __name__ == "__main__":
    main()
