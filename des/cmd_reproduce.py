"""``sqdm reproduce``: the paper's comparison, ablations, sparsity sweep and sensitivity, with figures."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .cli import register


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out-dir", default="reproduce", help="folder for results.json, tables.md and the figures "
                                                          "(default: ./reproduce)")
    from .limits import jobs_arg
    p.add_argument("--jobs", type=jobs_arg, default=None, help="worker processes (default: every core)")
    p.add_argument("--quick", action="store_true", help="tiny-digits, 3 steps: a smoke test of the whole pipeline")
    p.add_argument("--calibrate", action="store_true",
                   help="refit the calibrated config (scenarios/paper/calibrated.yaml) first, then reproduce")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _x(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _md(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def comparison_table(rows: list[dict]) -> str:
    """Markdown: machine, multipliers, area, cycles, speed-up and energy reduction vs FP16 (paper beside); the
    speed-ups also over the MAC layers alone ("MAC layers": the scope of STONNE, the paper's simulator)."""
    return _md(["machine", "multipliers", "area (mm2)", "cycles (M)", "speed-up vs FP16", "MAC layers", "paper",
                "energy (uJ)", "energy reduction vs FP16", "paper", "SQ-DM speed-up over it", "MAC layers",
                "SQ-DM energy reduction vs it"],
               [[r["machine"], f"{r['multipliers']:.0f}", f"{r['area_mm2']:.3f}", f"{r['cycles'] / 1e6:,.2f}",
                 _x(r.get("speedup_vs_fp16")), _x(r.get("mac_layers_speedup_vs_fp16")),
                 _x(r.get("paper_speedup_vs_fp16")), f"{r['energy_uj']:,.0f}",
                 _pct(r.get("energy_reduction_vs_fp16")), _pct(r.get("paper_energy_reduction_vs_fp16")),
                 _x(r.get("sqdm_speedup")), _x(r.get("sqdm_mac_layers_speedup")),
                 _pct(r.get("sqdm_energy_reduction"))] for r in rows])


def render_tables(t) -> str:
    """All tables of a reproduction as Markdown."""
    parts = []
    for batch in sorted({r["batch"] for r in t.main}):
        for cond in ("iso-area", "iso-multipliers", "iso-peak"):
            rows = [r for r in t.main if r["batch"] == batch and r["condition"] == cond]
            if rows:
                parts.append(f"### {cond}, batch {batch}\n\n" + comparison_table(rows))
    if t.calibrated:
        parts.append("### calibrated (iso-area, batch 1; scenarios/paper/calibrated.yaml)\n\n"
                     + comparison_table(t.calibrated))
    if t.ablation:
        parts.append("### ablations (SQ-DM, batch 1)\n\n" + _md(
            ["ablation", "cycles (M)", "speed-up vs per-step", "energy (uJ)", "label accuracy", "wrong labels",
             "dense array busy", "sparse array busy", "DRAM moved (MB)"],
            [[r["ablation"], f"{r['cycles'] / 1e6:,.2f}", _x(r["speedup_vs_per_step"]), f"{r['energy_uj']:,.0f}",
              _pct(r["label_accuracy"]), f"{r['wrong_labels']:,.0f}", _pct(r["dense_util"]), _pct(r["sparse_util"]),
              f"{r['dram_moved_mb']:,.1f}"] for r in t.ablation]))
    if t.sparsity:
        parts.append("### speed-up vs sparsity (SQ-DM over the same machine with the detector off)\n\n" + _md(
            ["mean zero fraction", "cycles (M)", "speed-up", "MAC layers", "ideal", "MACs skipped", "dense busy",
             "sparse busy"],
            [[f"{r['mean_zero_fraction']:.2f}", f"{r['cycles'] / 1e6:,.2f}", _x(r["speedup_vs_off"]),
              _x(r.get("mac_layers_speedup_vs_off")),
              _x(r["ideal_speedup"]), _pct(r["skipped_share"]), _pct(r["dense_util"]), _pct(r["sparse_util"])]
             for r in sorted(t.sparsity, key=lambda r: r["mean_zero_fraction"])]))
    if t.tiny:
        parts.append("### tiny-digits with its measured profile (iso-area, batch 1)\n\n" + comparison_table(t.tiny))
    if t.tornado:
        parts.append("### sensitivity (SQ-DM vs FP16, iso-area, batch 1)\n\n" + _md(
            ["assumption", "low", "speed-up", "energy reduction", "high", "speed-up", "energy reduction"],
            [[r["assumption"], str(r.get("low_value")), _x(r.get("low_speedup")), _pct(r.get("low_energy_reduction")),
              str(r.get("high_value")), _x(r.get("high_speedup")), _pct(r.get("high_energy_reduction"))]
             for r in t.tornado]))
    if t.failed:
        parts.append("### failed cases\n\n" + "\n".join(f"- {k}: {v}" for k, v in t.failed.items()))
    return "\n\n".join(parts) + "\n"


def _run(args: argparse.Namespace) -> int:
    from components.fileio import atomic_write_text
    from .reproduce import CALIBRATION_FILE, calibrate, paper_cases, reproduce_figures, reproduce_tables, run_cases
    jobs = args.jobs
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out-dir {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.calibrate:
        import yaml
        doc = calibrate(jobs)
        header = ("# Values fitted to the paper (sqdm reproduce --calibrate writes this file). The defaults are not\n"
                  "# edited: `sqdm reproduce` shows these as the 'calibrated' rows beside the uncalibrated ones.\n")
        CALIBRATION_FILE.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(CALIBRATION_FILE, header + yaml.safe_dump(doc, sort_keys=False))
        print(f"wrote {CALIBRATION_FILE}")
    cases = paper_cases(quick=args.quick)
    results = run_cases(cases, jobs)
    tables = reproduce_tables(cases, results)
    atomic_write_text(out / "results.json", json.dumps(
        {"cases": {c.name: {"group": c.group, "spec": c.spec.__dict__, "tags": dict(c.tags)} for c in cases},
         "results": results}, indent=1, default=str))
    text = render_tables(tables)
    atomic_write_text(out / "tables.md", text)
    figures = reproduce_figures(cases, results, tables, out)
    print(text)
    print(f"{len(cases)} runs in {time.perf_counter() - t0:.0f} s; wrote {out / 'results.json'}, {out / 'tables.md'}")
    for f in figures:
        print(f"wrote {f}")
    return 0 if not tables.failed else 1


register("reproduce", "reproduce the SQ-DM paper's comparison, ablations and sensitivity", _args, _run)
