"""Benchmark: build + extract every zoo model's workload graph (meta device), one fresh process each.

Reports wall time, peak resident memory of the process, graph size, and whether any weight was
allocated (every parameter must be on the meta device). Run: ``python bench/bench_extract.py``.
Timings vary with machine load; compare ratios within one run.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def one(name: str) -> dict:
    t0 = time.perf_counter()
    import torch  # noqa: F401  (import cost is reported separately)
    from workloads import extract_graph, get_model
    t_import = time.perf_counter() - t0
    entry = get_model(name)
    t1 = time.perf_counter()
    model = entry.build("relu", device="meta")
    t2 = time.perf_counter()
    g = extract_graph(model, entry.example_inputs(1, device="meta"), name=name)
    t3 = time.perf_counter()
    return {"model": name, "import_s": round(t_import, 2), "build_s": round(t2 - t1, 3),
            "extract_s": round(t3 - t2, 3), "nodes": g.number_of_nodes(), "edges": g.number_of_edges(),
            "gmac": round(g.graph["macs"] / 1e9, 3), "params_m": round(g.graph["parameters"] / 1e6, 2),
            "weights_allocated": any(not p.is_meta for p in model.parameters()),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2])))
        return
    from workloads import list_models
    print("| model | build (s) | extract (s) | nodes | GMAC | params (M) | weights allocated | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in list_models():
        r = json.loads(subprocess.run([sys.executable, __file__, "--one", name], check=True,
                                      capture_output=True, text=True).stdout)
        print(f"| {r['model']} | {r['build_s']} | {r['extract_s']} | {r['nodes']} | {r['gmac']} | "
              f"{r['params_m']} | {r['weights_allocated']} | {r['peak_rss_mb']} |")


if __name__ == "__main__":
    main()
