"""``sqdm simulate``: run a workload on a machine and print the report's summary."""
from __future__ import annotations

import argparse

from .cli import register
from .limits import batch_arg, fraction_arg, resolution_arg, seed_arg, steps_arg


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hw", required=True, help="shipped config name (sqdm, int4-dense, ...) or YAML file")
    p.add_argument("--workload", required=True, help="zoo model name or workload file (.json)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a hardware field, e.g. --set dram.bandwidth_gbytes_per_s=204.8 (repeatable)")
    p.add_argument("--policy", default=None, help="precision policy name or YAML (default: the machine's)")
    p.add_argument("--profile", default=None, help="sparsity profile (.npz); default: synthetic (des/defaults.yaml)")
    p.add_argument("--synthetic-mean", type=fraction_arg, default=None,
                   help="mean zero fraction of the synthetic profile")
    p.add_argument("--seed", type=seed_arg, default=None, help="seed of the synthetic profile")
    from .run import DEFAULTS_FILE, run_defaults
    p.add_argument("--steps", type=steps_arg, default=None,
                   help=f"sampling steps (network evaluations); default {run_defaults()['steps']} "
                        f"({DEFAULTS_FILE.parent.name}/{DEFAULTS_FILE.name})")
    p.add_argument("--batch", type=batch_arg, default=1)
    p.add_argument("--cfg", action="store_true", help="classifier-free guidance (doubles the batch)")
    p.add_argument("--resolution", type=resolution_arg, default=None)
    p.add_argument("--activation", choices=["relu", "silu"], default=None, help="zoo models: default relu")
    p.add_argument("--out", default=None, help="write the full report as JSON")
    p.add_argument("--trace", default=None, metavar="OUT.json",
                   help="write a Chrome/Perfetto trace-event file (open in ui.perfetto.dev or chrome://tracing)")
    p.add_argument("--plot", default=None,
                   help="write the utilization-over-time figure (.png, .pdf or .svg; no suffix: .png is added)")
    from .limits import jobs_arg
    p.add_argument("--jobs", type=jobs_arg, default=1,
                   help="processes that share the steps of a run with per-step sparsity, in ranges of at least 8 "
                        "steps (default 1; the report is the same for any count on the shipped machines; more "
                        "processes than cores only cost memory and time)")
    p.add_argument("--no-cache", dest="use_cache", action="store_false",
                   help="zoo models: build the graph afresh, neither reading nor writing the prepared-graph cache "
                        "(see 'sqdm cache info')")


def _run(args: argparse.Namespace) -> int:
    from components.fileio import IMAGE_SUFFIXES, check_distinct_outputs, check_output_path
    from .run import RunSpec, run
    # outputs are checked before the run, written before anything is printed (a closed stdout loses nothing)
    out = None if args.out is None else check_output_path(args.out, "--out")
    plot = None if args.plot is None else check_output_path(args.plot, "--plot", suffixes=IMAGE_SUFFIXES,
                                                            default_suffix=".png")
    trace = None if args.trace is None else check_output_path(args.trace, "--trace")
    check_distinct_outputs({"--out": out, "--plot": plot, "--trace": trace})
    spec = RunSpec(hw=args.hw, workload=args.workload, policy=args.policy, profile=args.profile,
                   steps=args.steps, batch=args.batch, cfg=args.cfg, resolution=args.resolution,
                   activation=args.activation, synthetic_mean=args.synthetic_mean, seed=args.seed,
                   overrides=tuple(args.overrides), use_cache=args.use_cache)
    r = run(spec, keep_intervals=trace is not None, jobs=args.jobs)
    written = []
    if out is not None:
        r.to_json(out)
        written.append(out)
    if plot is not None:
        from plots.utilization import plot_utilization
        written.append(plot_utilization(r, plot))
    if trace is not None:
        from .trace import write_trace
        written.append(write_trace(r, trace))
    print(format_summary(r))
    for path in written:
        print(f"wrote {path}")
    return 0


def format_summary(r) -> str:
    """A human-readable summary of a Report."""
    ana = float(r.analytical_node_cycles.sum())
    ana_err = f"{100 * (r.total_cycles - ana) / ana:+.2f}%" if ana else "n/a"
    lines = [
        f"{r.model} on {r.hardware} (policy {r.policy}, {r.steps} step(s), batch {r.batch}, profile {r.profile_kind})",
        f"  total            {r.total_cycles:,.0f} cycles = {r.seconds * 1e3:,.3f} ms"
        f"  ({r.total_cycles / r.steps:,.0f} cycles/step; analytical {ana:,.0f}, {ana_err})",
        f"  energy           {r.energy_pj / 1e6:,.2f} uJ (dynamic {sum(r.energy_dynamic_pj.values()) / 1e6:,.2f},"
        f" static {sum(r.energy_static_pj.values()) / 1e6:,.2f})",
        "  energy by level  " + ", ".join(
            f"{lvl} {sum(ops.values()) / 1e6:,.1f} uJ" for lvl, ops in sorted(
                r.energy_by_level_operand_pj.items(), key=lambda kv: -sum(kv[1].values())) if sum(ops.values())),
        "  array util.      " + (", ".join(
            f"{c} {100 * sum(v for k, v in r.counters.items() if k.startswith(c + '.macs.')) / r.counters[c + '.mac_slots']:.1f}%"
            for c in ("dense_cluster", "sparse_cluster") if r.counters.get(c + ".mac_slots")) or "-")
        + " of the MAC slots while computing (mapping losses)",
        f"  MACs             graph {r.macs['graph_macs'] / 1e9:,.3f} G: dense {r.macs['dense_executed_macs'] / 1e9:,.3f} G,"
        f" sparse {r.macs['sparse_executed_macs'] / 1e9:,.3f} G, skipped {r.macs['skipped_macs'] / 1e9:,.3f} G",
        f"  DRAM             read {r.bytes['dram_read_bytes'] / 1e6:,.2f} MB, written {r.bytes['dram_write_bytes'] / 1e6:,.2f} MB,"
        f" moved {r.bytes['dram_moved_bytes'] / 1e6:,.2f} MB (weights {'resident' if r.bytes['weights_resident'] else 'streamed'})",
        f"  detector         label accuracy {100 * r.detector['label_accuracy']:.1f}% "
        f"({r.detector['wrong_labels']:,.0f} wrong of {r.detector['labels_used']:,.0f}; they cost "
        f"{r.detector.get('wrong_label_cycles', 0.0):,.0f} cycles against labels from the true zero fractions)",
        "  utilization      " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(r.utilization.items())),
        f"  area             {sum(r.area_mm2.values()):.3f} mm2; simulated in {r.wall_seconds:.2f} s",
    ]
    return "\n".join(lines)


register("simulate", "simulate a workload on a machine", _args, _run)
