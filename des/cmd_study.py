"""``sqdm run`` (a scenario file: one point or a sweep, into a results store) and ``sqdm plot`` (figures
from a results store, or the utilization lanes of one report). See docs/scenarios.md."""
from __future__ import annotations

import argparse
import sys

from .cli import register
from .limits import int_in

MAX_WORKERS = 1024
workers_arg = int_in(0, MAX_WORKERS, "0 runs the points in this process")


# -- sqdm run ---------------------------------------------------------------------------------------------
def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario file (.yaml; docs/scenarios.md)")
    p.add_argument("--store", default=None,
                   help="results store (SQLite) to write and resume from; default sqdm-results/<name>.sqlite")
    p.add_argument("--workers", type=workers_arg, default=None,
                   help="worker processes (default: one per CPU; 0: in this process)")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run the points on a dask.distributed cluster: a scheduler address (tcp://host:8786) or "
                        "'local' (a LocalCluster of --workers processes)")
    p.add_argument("--retry-failed", action="store_true", help="run the points stored as failed again")
    p.add_argument("--trace", default=None, metavar="OUT.json",
                   help="one-point scenarios: write a Chrome/Perfetto trace-event file of the run")
    p.add_argument("--list", action="store_true", help="print the points (and whether they are stored) and exit")


def _num(v: float) -> str:
    if v != v:
        return ""
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"


def _fmt_table(df, swept: list[str], limit: int = 60) -> str:
    import pandas as pd
    out = pd.DataFrame({"#": df["index"]})
    for c in swept:
        out[c.split(".", 1)[1]] = df[c] if c in df.columns else None
    out["status"] = df["status"]
    for col, name, f in (("seconds", "latency ms", 1e3), ("energy_pj", "energy uJ", 1e-6), ("area_mm2", "area mm2", 1.0)):
        if col in df.columns:
            out[name] = (df[col].astype(float) * f).map(_num)
    if (df["status"] == "failed").any():
        out["error"] = df["error"].fillna("").map(lambda s: s if len(s) <= 60 else s[:57] + "...")
    text = out.head(limit).to_string(index=False)
    if len(out) > limit:
        text += f"\n... {len(out) - limit} more point(s): sqdm plot, or des.sweep.load_results(store)"
    return text


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from components.fileio import check_output_path
    from .scenario import ScenarioError, load_scenario
    from .store import ResultsStore
    from .sweep import _frame, _remember_scenario, default_store_path, execute
    sc = load_scenario(args.scenario)
    if args.workers != 0 and args.dask is None and args.trace is None and not args.list:
        from .sweep import start_forkserver
        start_forkserver(torch=_uses_zoo(sc))  # imports the simulator in the background while points resolve
    points = sc.points()  # every point resolved and checked before anything runs
    store_path = Path(args.store) if args.store is not None else default_store_path(sc)
    trace = None
    if args.trace is not None:
        if len(points) != 1:
            raise ScenarioError(f"--trace: needs a one-point scenario; {sc.source} has {len(points)} points")
        trace = check_output_path(args.trace, "--trace")
        if args.dask is not None:
            raise ScenarioError("--trace runs its one point in this process: leave out --dask")
    if args.list:
        with ResultsStore(store_path, readonly=True) if store_path.exists() else _Empty() as st:
            stored = st.finished(sc.name)
        for p in points:
            print(f"{p.index:>5}  {p.hash[:12]}  {stored.get(p.hash, 'todo'):<6}  {p.label()}")
        print(f"{len(points)} point(s), {sum(p.hash in stored for p in points)} stored in {store_path}")
        return 0
    with ResultsStore(store_path) as st:
        _remember_scenario(st, sc)
        out = execute(points, st, workers=args.workers, dask=args.dask, retry_failed=args.retry_failed,
                      keep_intervals=trace is not None, desc=sc.name, force=trace is not None)
        df = _frame(st, points)
    written = []
    if trace is not None:
        from .trace import write_trace
        report = (out.reports or {}).get(points[0].hash)
        if report is not None:
            written.append(write_trace(report, trace))
    print(_fmt_table(df, sc.swept_paths()))
    where = "in this process" if out.backend == "in-process" else \
        f"on {out.workers} {'dask worker(s)' if out.backend == 'dask' else 'worker process(es)'}"
    print(f"scenario {sc.name}: {out.points} point(s); ran {out.ran} (ok {out.ok}, failed {out.failed}) in "
          f"{out.wall_seconds:.1f} s {where}; {out.skipped} already in the store")
    print(f"results in {store_path}")
    for path in written:
        print(f"wrote {path}")
    failed = int((df["status"] == "failed").sum()) if not df.empty else 0
    if failed:
        print(f"{failed} point(s) failed (their errors are in the store); exit status 1", file=sys.stderr)
        return 1
    return 0


def _uses_zoo(sc) -> bool:
    from workloads import ZOO
    values = [sc.run.workload]
    for b in sc.sweep:
        if b.grid is not None and "run.workload" in b.grid:
            values += b.grid["run.workload"]
        if b.zip is not None and "run.workload" in b.zip:
            values += b.zip["run.workload"]
        if b.random is not None and "run.workload" in b.random.fields:
            values += getattr(b.random.fields["run.workload"], "choice", [])
    return any(v in ZOO for v in values)


class _Empty:
    def finished(self, scenario: str) -> dict:
        return {}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


# -- sqdm plot --------------------------------------------------------------------------------------------
def _plot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("store", nargs="?", default=None, help="results store (.sqlite) written by sqdm run")
    p.add_argument("--scenario", default=None, help="which scenario of the store (needed when it holds several)")
    p.add_argument("--kind", choices=["curves", "heatmap", "pareto"], default=None,
                   help="one figure of this kind (default: the figures the scenario lists, and a Pareto front)")
    p.add_argument("--x", default=None, help="curves / heatmap: swept field on the x axis (e.g. run.batch)")
    p.add_argument("--y", default=None, help="curves: metric (e.g. seconds, energy_pj); heatmap: second swept field")
    p.add_argument("--z", default=None, help="heatmap: metric in the cells")
    p.add_argument("--hue", default=None, help="curves: one line per value of this swept field")
    p.add_argument("--out", default=None, help="the figure with --kind (.png, .pdf, .svg)")
    p.add_argument("--out-dir", default=None, help="folder of the scenario's figures (default: the store's folder)")
    p.add_argument("--report", default=None,
                   help="instead of a store: a report JSON (sqdm simulate --out): its utilization lanes to --out")


def _plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from components.fileio import IMAGE_SUFFIXES, check_output_folder, check_output_path
    from .store import ResultsStore, StoreError
    if args.report is not None:
        if args.out is None:
            raise StoreError("plot --report: give --out FIGURE")
        from components.fileio import load_json_text, read_input_text
        from components.fileio.limits import MAX_WORKLOAD_FILE_BYTES
        out = check_output_path(args.out, "--out", suffixes=IMAGE_SUFFIXES, default_suffix=".png")
        doc = load_json_text(read_input_text(args.report, "report", MAX_WORKLOAD_FILE_BYTES), f"report {args.report}")
        need = ("utilization_timeline", "utilization", "clock_ghz", "timeline_bin_cycles", "cycles_per_step", "model",
                "hardware", "steps", "policy")
        if not isinstance(doc, dict) or doc.get("format") != "sqdm-report" or any(k not in doc for k in need):
            raise StoreError(f"report {args.report}: not an sqdm report (sqdm simulate --out)")
        from plots.utilization import plot_utilization
        print(f"wrote {plot_utilization(doc, out)}")
        return 0
    if args.store is None:
        raise StoreError("plot: give a results store (or --report REPORT.json)")
    with ResultsStore(args.store, readonly=True) as st:
        names = st.scenarios()
        if args.scenario is None and len(names) > 1:
            raise StoreError(f"results store {args.store}: holds {len(names)} scenarios ({', '.join(names)}); "
                             "pick one with --scenario")
        name = args.scenario or (names[0] if names else None)
        if name is None or name not in names:
            raise StoreError(f"results store {args.store}: no points of scenario {name!r}"
                             + (f" (it has {', '.join(names)})" if names else " (it is empty)"))
        df = st.dataframe(name)
        text = st.scenario_text(name)
    figures, baseline = _scenario_figures(text)
    if args.kind is not None:
        if args.out is None:
            raise StoreError("plot --kind: give --out FIGURE")
        out = check_output_path(args.out, "--out", suffixes=IMAGE_SUFFIXES, default_suffix=".png")
        spec = {"kind": args.kind, "x": args.x, "y": args.y, "z": args.z, "hue": args.hue, "baseline": baseline}
        print(f"wrote {_draw(df, spec, out, name)}")
        return 0
    folder = check_output_folder(args.out_dir, "--out-dir") if args.out_dir else Path(args.store).resolve().parent
    if not any(f.get("kind") == "pareto" for f in figures):
        figures.append({"kind": "pareto", "baseline": baseline})
    paths = []
    for i, f in enumerate(figures):
        out = check_output_path(folder / (f.get("out") or f"{name}_{i}_{f['kind']}.png"), "figure",
                                suffixes=IMAGE_SUFFIXES, default_suffix=".png")
        paths.append((f, out))
    for f, out in paths:
        print(f"wrote {_draw(df, f, out, name)}")
    return 0


def _scenario_figures(text: str | None) -> tuple[list[dict], dict | None]:
    import yaml
    if not text:
        return [], None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return [], None
    figs = [dict(f) for f in (doc.get("figures") or []) if isinstance(f, dict)] if isinstance(doc, dict) else []
    base = next((f.get("baseline") for f in figs if f.get("baseline")), None)
    return figs, base


def _draw(df, f: dict, out, name: str):
    from plots.sweep import PlotError, plot_curves, plot_heatmap, plot_pareto, swept_columns
    swept = [c for c in swept_columns(df) if df[c].nunique(dropna=False) > 1] or swept_columns(df)
    kind = f["kind"]
    title = f.get("title")
    if kind == "curves":
        x = f.get("x") or (swept[0] if swept else None)
        y = f.get("y") or "seconds"
        hue = f.get("hue") or (next((c for c in swept if c != x), None) if f.get("x") is None else None)
        if x is None:
            raise PlotError("plot curves: the scenario sweeps nothing; give --x")
        return plot_curves(df, x, y, out, hue=hue, title=title or f"{name}", baseline=f.get("baseline"))
    if kind == "heatmap":
        x = f.get("x") or (swept[0] if swept else None)
        y = f.get("y") or next((c for c in swept if c != x), None)
        if x is None or y is None:
            raise PlotError("plot heatmap: needs two swept fields (--x, --y)")
        return plot_heatmap(df, x, y, f.get("z") or "seconds", out, title=title or f"{name}")
    objectives = (f.get("x") or "seconds", f.get("y") or "energy_pj", f.get("z") or "area_mm2")
    return plot_pareto(df, out, objectives=objectives, title=title or f"{name}: latency, energy, area",
                       baseline=f.get("baseline"))


register("run", "run a scenario file (one point or a sweep) into a results store", _run_args, _run)
register("plot", "draw sweep figures from a results store (or the utilization lanes of a report)", _plot_args, _plot)
