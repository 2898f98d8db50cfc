"""The paper reproduction: named scenarios (machines x comparison conditions, ablations, a sparsity sweep,
a sensitivity analysis), run in worker processes, reduced to tables with the paper's numbers beside them.

Every case is a named :class:`Case`: a :class:`des.run.RunSpec` (hardware by name with ``section.field=value``
overrides, workload, steps, profile) and tags saying what it varies. The studies machinery can run the same
cases; :func:`paper_cases` is the single list.

Comparison conditions (each baseline against SQ-DM, which is the same run in all three):

* ``iso-area`` — the shipped baselines: their multipliers are derived by the area model for SQ-DM's area
  (``sizing: iso_area_with: sqdm``, docs/sizing.md);
* ``iso-multipliers`` — every baseline has SQ-DM's 1024 + 1024 = 2048 multipliers, each of its own kind;
* ``iso-peak`` — every baseline has as many multipliers as a dense machine needs to match SQ-DM's peak
  counted dense-equivalent: SQ-DM's 2048 multipliers times the ideal speed-up of skipping the zeros of the
  sparse-eligible MACs, ``1 / (1 - eligible MAC share x mean zero fraction)``, rounded to 16.

Each condition at batch 1 (weights read once per evaluation unless they fit on chip) and at the batch of
``des/data/paper.yaml`` (each weight read serves the whole batch).

The calibrated variant (:data:`CALIBRATION_FILE`) holds values fitted to the paper, apart from the defaults;
:func:`calibrate` refits them.
"""
from __future__ import annotations

import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from components.fileio import safe_load_yaml

from .run import RunSpec

__all__ = ["reproduce_figures", "ideal_speedup", "Case", "paper_cases", "run_cases", "case_metrics", "paper_claims", "PAPER_FILE", "CALIBRATION_FILE",
           "MACHINES", "BASELINES", "reproduce_tables", "calibrate", "ReproduceError"]

PAPER_FILE = Path(__file__).with_name("data") / "paper.yaml"
CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "scenarios" / "paper" / "calibrated.yaml"
MACHINES = ("fp16-dense", "int4-dense", "int4vsq-dense", "sqdm")
BASELINES = MACHINES[:-1]
SQDM_OFF = "sqdm, detector off"  # SQ-DM's arrays without the detector: 4-bit alone on the same hardware
ROWS = ("fp16-dense", "int4-dense", "int4vsq-dense", SQDM_OFF, "sqdm")
CONDITIONS = ("iso-area", "iso-multipliers", "iso-peak")
MULTIPLIER_GRANULARITY = 16  # iso-peak counts are rounded to this (as the sizing of the shipped baselines)


class ReproduceError(ValueError):
    """A reproduction input that cannot be used (calibration file, paper file)."""


@dataclass(frozen=True)
class Case:
    """One named scenario of the reproduction."""

    name: str
    group: str  # main | ablation | sparsity | tornado | tiny | calibrated
    spec: RunSpec
    tags: tuple[tuple[str, object], ...] = ()
    keep_timeline: bool = False

    def tag(self, key: str, default: object = None) -> object:
        return dict(self.tags).get(key, default)


@lru_cache(maxsize=1)
def paper_claims() -> dict:
    """``des/data/paper.yaml``: the claims and the paper-shaped workload."""
    d = safe_load_yaml(PAPER_FILE.read_text())
    if not isinstance(d, dict) or not {"claims", "workload"} <= set(d):
        raise ReproduceError(f"{PAPER_FILE}: needs 'claims' and 'workload' mappings")
    return d


def calibration() -> dict:
    """The calibrated values (``scenarios/paper/calibrated.yaml``): machine -> overrides, and provenance."""
    if not CALIBRATION_FILE.exists():
        return {}
    d = safe_load_yaml(CALIBRATION_FILE.read_text())
    if not isinstance(d, dict) or not isinstance(d.get("overrides"), dict):
        raise ReproduceError(f"{CALIBRATION_FILE}: needs an 'overrides' mapping (machine -> [section.field=value])")
    return d


# -- the cases ----------------------------------------------------------------------------------------------
def _eligible_mac_share_and_mean_zf(workload: str, steps: int, mean: float | None, profile: str | None) -> tuple:
    """(eligible MAC share, MAC-weighted mean zero fraction of the eligible MACs) of a run's graph and profile."""
    from .run import resolve_run
    g, _, prof, _ = resolve_run(RunSpec(hw="sqdm", workload=workload, steps=steps, synthetic_mean=mean,
                                        profile=profile))
    macs = {n: float(d["macs"]) for n, d in g.nodes(data=True)}
    total = sum(macs.values())
    elig = {n: m for n, m in macs.items() if g.nodes[n].get("sparse_eligible")}
    zf = prof.zero_fraction
    zero = sum(m * float(np.mean(zf[n][:steps])) for n, m in elig.items() if n in zf)
    em = sum(elig.values())
    return em / total, (zero / em if em else 0.0)


def iso_peak_multipliers(workload: str, steps: int, mean: float | None = None, profile: str | None = None) -> int:
    """Multipliers of a dense machine whose peak equals SQ-DM's dense-equivalent peak (module docstring)."""
    from .run import load_hardware
    hw = load_hardware("sqdm")
    share, zf = _eligible_mac_share_and_mean_zf(workload, steps, mean, profile)
    n = (hw.dense_cluster.multipliers + hw.sparse_cluster.multipliers) / (1.0 - share * zf)
    return int(round(n / MULTIPLIER_GRANULARITY) * MULTIPLIER_GRANULARITY)


def _condition_overrides(condition: str, machine: str, iso_peak: int) -> tuple[str, ...]:
    if machine == "sqdm" or condition == "iso-area":
        return ()
    if condition == "iso-multipliers":
        return ("dense_cluster.multipliers=2048",)
    return (f"dense_cluster.multipliers={iso_peak}",)


def paper_cases(quick: bool = False) -> list[Case]:
    """Every case of ``sqdm reproduce`` (``quick``: a small workload and few steps, for tests)."""
    w = paper_claims()["workload"]
    model, steps, batch_reuse = str(w["model"]), int(w["evaluations"]), int(w["batch_reuse"])
    tiny_profile = str(Path(__file__).resolve().parents[1] / "docs" / "tiny-digits-sqdm.profile.npz")
    if quick:
        model, steps, batch_reuse = "tiny-digits", 3, 2
    cases: list[Case] = []
    iso_peak = iso_peak_multipliers(model, steps)
    base = RunSpec(hw="sqdm", workload=model, steps=steps)
    for batch in (1, batch_reuse):
        for cond in CONDITIONS:
            for mach in MACHINES:
                if mach == "sqdm" and cond != "iso-area":
                    continue  # the same run in every condition
                spec = replace(base, hw=mach, batch=batch, overrides=_condition_overrides(cond, mach, iso_peak))
                cases.append(Case(f"{cond}/b{batch}/{mach}", "main", spec,
                                  (("condition", cond), ("batch", batch), ("machine", mach)),
                                  keep_timeline=(mach == "sqdm" and batch == 1)))
        cases.append(Case(f"iso-area/b{batch}/{SQDM_OFF}", "main",
                          replace(base, batch=batch, overrides=("detector.policy=off",)),
                          (("condition", "iso-area"), ("batch", batch), ("machine", SQDM_OFF))))
    cal = calibration().get("overrides", {})
    for mach in MACHINES:
        if mach in cal:
            cases.append(Case(f"calibrated/b1/{mach}", "calibrated",
                              replace(base, hw=mach, overrides=tuple(cal[mach])), (("machine", mach),)))
    # ablations: SQ-DM at batch 1, one idea changed at a time
    ablations = {
        "detector off": ("detector.policy=off",),
        "threshold placement": ("detector.placement=threshold",),
        "static labels": ("detector.policy=static",),
        "every-4 labels": ("detector.policy=every_k", "detector.k=4"),
        "per-step labels": (),
        "oracle labels": ("detector.policy=oracle",),
        "channel-interleaved mapping": ("dram.address_mapping=interleaved",),
        "threshold 10%": ("detector.threshold=0.1",),
        "threshold 50%": ("detector.threshold=0.5",),
        "threshold 10%, threshold placement": ("detector.threshold=0.1", "detector.placement=threshold"),
        "threshold 50%, threshold placement": ("detector.threshold=0.5", "detector.placement=threshold"),
    }
    for name, ov in ablations.items():
        cases.append(Case(f"ablation/{name}", "ablation", replace(base, overrides=ov), (("ablation", name),)))
    # speed-up vs mean sparsity (detector off is the reference: it does not depend on the profile)
    for mean in ((0.0, 0.8) if quick else (0.0, 0.3, 0.5, 0.65, 0.8, 0.95)):
        cases.append(Case(f"sparsity/{mean:.2f}", "sparsity", replace(base, synthetic_mean=mean),
                          (("mean", mean),)))
    cases.append(Case("sparsity/off", "sparsity", replace(base, overrides=("detector.policy=off",)),
                      (("mean", None),)))
    # the measured profile
    tiny_steps = 3 if quick else 20
    for mach in MACHINES:
        cases.append(Case(f"tiny/{mach}", "tiny", RunSpec(hw=mach, workload="tiny-digits", steps=tiny_steps,
                                                            profile=tiny_profile if mach == "sqdm" else None),
                          (("machine", mach),)))
    cases.extend(_tornado_cases(base, quick))
    return cases


# (assumption, label, [(value label, sqdm overrides, fp16 overrides, run fields)] low then high)
def _tornado_assumptions(quick: bool) -> list[tuple[str, list[tuple[str, tuple, tuple, dict]]]]:
    out = [
        ("DRAM bandwidth (GB/s)", [("51.2", ("dram.bandwidth_gbytes_per_s=51.2",), ("dram.bandwidth_gbytes_per_s=51.2",), {}),
                                   ("204.8", ("dram.bandwidth_gbytes_per_s=204.8",), ("dram.bandwidth_gbytes_per_s=204.8",), {})]),
        ("mean zero fraction", [("0.5", (), (), {"synthetic_mean": 0.5}), ("0.8", (), (), {"synthetic_mean": 0.8})]),
        ("sparse load imbalance", [("1.3", ("sparse_cluster.load_imbalance=1.3",), (), {}),
                                   ("1.0", ("sparse_cluster.load_imbalance=1.0",), (), {})]),
        ("FP16 multiplier area", [("x0.75", (), ("@fp16_scale=1.3333",), {}), ("x1.25", (), ("@fp16_scale=0.8",), {})]),
        ("global buffer (KiB)", [("512", ("global_buffer.capacity_bytes=524288",), ("global_buffer.capacity_bytes=524288",), {}),
                                 ("2048", ("global_buffer.capacity_bytes=2097152",), ("global_buffer.capacity_bytes=2097152",), {})]),
        ("vector lanes", [("32", ("vector_unit.lanes=32",), ("vector_unit.lanes=32",), {}),
                          ("128", ("vector_unit.lanes=128",), ("vector_unit.lanes=128",), {})]),
    ]
    return out[:1] if quick else out


def _tornado_cases(base: RunSpec, quick: bool) -> list[Case]:
    from .run import load_hardware
    cases = []
    fp16_n = load_hardware("fp16-dense").dense_cluster.multipliers
    for assumption, values in _tornado_assumptions(quick):
        for side, (label, sq_ov, fp_ov, fields) in zip(("low", "high"), values):
            sq_spec = replace(base, overrides=sq_ov, **fields)
            if any(o.startswith("@fp16_scale=") for o in fp_ov):
                scale = float(fp_ov[0].split("=")[1])
                fp_ov = (f"dense_cluster.multipliers={int(round(fp16_n * scale / 16) * 16)}",)
            elif sq_ov:  # the same change on both: FP16 re-derived for SQ-DM's changed area
                area = load_hardware("sqdm", sq_ov).area_mm2().total_mm2 if fp_ov else None
                if area is not None:
                    fp_ov = fp_ov + ("sizing.iso_area_with=null", f"sizing.target_area_mm2={area:.6f}")
            fp_spec = replace(base, hw="fp16-dense", overrides=fp_ov, **{k: v for k, v in fields.items()
                                                                        if k != "synthetic_mean"})
            tags = (("assumption", assumption), ("side", side), ("value", label))
            cases.append(Case(f"tornado/{assumption}/{label}/sqdm", "tornado", sq_spec, tags + (("machine", "sqdm"),)))
            cases.append(Case(f"tornado/{assumption}/{label}/fp16-dense", "tornado", fp_spec,
                              tags + (("machine", "fp16-dense"),)))
    return cases


# -- running ------------------------------------------------------------------------------------------------
def case_metrics(report, keep_timeline: bool = False) -> dict:
    """The numbers the tables and figures need from one report (small, picklable)."""
    out = {
        "total_cycles": float(report.total_cycles), "seconds": float(report.seconds),
        "mac_layer_cycles": float(report.mac_layer_cycles),
        "energy_pj": float(report.energy_pj), "area_mm2": float(sum(report.area_mm2.values())),
        "energy_by_level_pj": {lvl: float(sum(ops.values())) for lvl, ops in report.energy_by_level_operand_pj.items()},
        "energy_static_pj": float(sum(report.energy_static_pj.values())),
        "utilization": {k: float(v) for k, v in report.utilization.items()},
        "macs": {k: float(v) for k, v in report.macs.items()},
        "detector": {k: float(v) for k, v in report.detector.items()},
        "dram_moved_bytes": float(report.bytes["dram_moved_bytes"]),
        "wall_seconds": float(report.wall_seconds),
    }
    if keep_timeline:
        out["timeline"] = {k: list(map(float, v)) for k, v in report.utilization_timeline.items()}
        out["timeline_bin_cycles"] = float(report.timeline_bin_cycles)
        out["clock_ghz"] = float(report.clock_ghz)
        out["step_end_cycles"] = [float(x) for x in np.cumsum(report.cycles_per_step)]
    return out


def _run_one(case: Case) -> tuple[str, dict | None, str]:
    from .run import load_hardware, run
    try:
        rep = run(case.spec, progress=False)
        m = case_metrics(rep, case.keep_timeline)
        hw = load_hardware(case.spec.hw, case.spec.overrides)
        m["multipliers"] = float(sum(c.multipliers for c in (hw.dense_cluster, hw.sparse_cluster) if c is not None))
        return case.name, m, ""
    except (ValueError, OSError) as e:  # a case that cannot run is reported, the others go on
        return case.name, None, f"{type(e).__name__}: {e}"


def run_cases(cases: Iterable[Case], jobs: int | None = None, progress: bool | None = None,
              on_result: Callable[[str, dict | None, str], None] | None = None) -> dict[str, dict]:
    """Run every case (``jobs`` worker processes; 1: in this process); returns name -> metrics, and for a
    case that failed name -> {"error": message}."""
    cases = list(cases)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(cases)))
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm
        bar = tqdm(total=len(cases), desc="reproduce", unit="run", file=sys.stderr)
    results: dict[str, dict] = {}

    def take(name: str, m: dict | None, err: str) -> None:
        results[name] = m if m is not None else {"error": err}
        if on_result is not None:
            on_result(name, m, err)
        if bar is not None:
            bar.update(1)

    try:
        if jobs == 1:
            for c in cases:
                take(*_run_one(c))
        else:
            import multiprocessing as mp
            # the slow cases first, so that the pool ends together
            order = sorted(cases, key=lambda c: (c.spec.hw != "sqdm", -(c.spec.batch or 1)))
            with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as ex:
                for name, m, err in ex.map(_run_one, order):
                    take(name, m, err)
    finally:
        if bar is not None:
            bar.close()
    return {c.name: results[c.name] for c in cases}


# -- tables -------------------------------------------------------------------------------------------------
@dataclass
class Tables:
    """The reproduction's tables (lists of row dicts) and the sources they come from."""

    main: list[dict] = field(default_factory=list)
    calibrated: list[dict] = field(default_factory=list)
    ablation: list[dict] = field(default_factory=list)
    sparsity: list[dict] = field(default_factory=list)
    tiny: list[dict] = field(default_factory=list)
    tornado: list[dict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _ok(m: dict | None) -> bool:
    return m is not None and "error" not in m


def _mac_ratio(slow: dict, fast: dict) -> float | None:
    """``slow`` over ``fast`` in MAC-layer cycles (the scope of a layer simulator such as STONNE)."""
    a, b = slow.get("mac_layer_cycles"), fast.get("mac_layer_cycles")
    return a / b if a and b else None


def _vs(rows_by_machine: dict[str, dict], claims: dict) -> list[dict]:
    fp = rows_by_machine.get("fp16-dense")
    rows = []
    for mach in ROWS:
        m = rows_by_machine.get(mach)
        if not _ok(m):
            continue
        row = {"machine": mach, "multipliers": m["multipliers"], "area_mm2": m["area_mm2"],
               "cycles": m["total_cycles"], "energy_uj": m["energy_pj"] / 1e6}
        if _ok(fp):
            row["speedup_vs_fp16"] = fp["total_cycles"] / m["total_cycles"]
            row["mac_layers_speedup_vs_fp16"] = _mac_ratio(fp, m)
            row["energy_reduction_vs_fp16"] = 1.0 - m["energy_pj"] / fp["energy_pj"]
        sq = rows_by_machine.get("sqdm")
        if _ok(sq) and mach != "sqdm":
            row["sqdm_speedup"] = m["total_cycles"] / sq["total_cycles"]
            row["sqdm_mac_layers_speedup"] = _mac_ratio(m, sq)
            row["sqdm_energy_reduction"] = 1.0 - sq["energy_pj"] / m["energy_pj"]
        row["paper_speedup_vs_fp16"] = {"sqdm": claims["sqdm_speedup_vs_fp16"],
                                        "int4-dense": claims["int4_speedup_vs_fp16"],
                                        SQDM_OFF: claims["int4_speedup_vs_fp16"]}.get(mach)
        row["paper_energy_reduction_vs_fp16"] = claims["sqdm_energy_reduction_vs_fp16"] if mach == "sqdm" else None
        rows.append(row)
    return rows


def reproduce_tables(cases: list[Case], results: dict[str, dict]) -> Tables:
    """Reduce the results of :func:`paper_cases` to tables."""
    claims = paper_claims()["claims"]
    t = Tables(failed={n: m["error"] for n, m in results.items() if not _ok(m)})
    main = [c for c in cases if c.group == "main"]
    for batch in sorted({c.tag("batch") for c in main}):
        for cond in CONDITIONS:
            rows = {c.tag("machine"): results.get(c.name) for c in main
                    if c.tag("batch") == batch and c.tag("condition") == cond}
            rows["sqdm"] = results.get(f"iso-area/b{batch}/sqdm")
            rows[SQDM_OFF] = results.get(f"iso-area/b{batch}/{SQDM_OFF}")
            for r in _vs(rows, claims):
                t.main.append({"condition": cond, "batch": batch, **r})
    cal = {c.tag("machine"): results.get(c.name) for c in cases if c.group == "calibrated"}
    if cal:
        for mach in ROWS:
            cal.setdefault(mach, results.get(f"iso-area/b1/{mach}"))
        t.calibrated = _vs(cal, claims)
    ref = results.get("ablation/per-step labels")
    for c in cases:
        m = results.get(c.name)
        if c.group == "ablation" and _ok(m) and _ok(ref):
            d = m["detector"]
            t.ablation.append({"ablation": c.tag("ablation"), "cycles": m["total_cycles"],
                               "speedup_vs_per_step": ref["total_cycles"] / m["total_cycles"],
                               "energy_uj": m["energy_pj"] / 1e6, "label_accuracy": d.get("label_accuracy", 1.0),
                               "wrong_labels": d.get("wrong_labels", 0.0),
                               "dense_util": m["utilization"].get("dense_cluster", 0.0),
                               "sparse_util": m["utilization"].get("sparse_cluster", 0.0),
                               "dram_moved_mb": m["dram_moved_bytes"] / 1e6})
    off = results.get("sparsity/off")
    for c in cases:
        m = results.get(c.name)
        if c.group == "sparsity" and c.tag("mean") is not None and _ok(m) and _ok(off):
            macs = m["macs"]
            elig = (macs["sparse_executed_macs"] + macs["skipped_macs"]) / macs["graph_macs"] if macs["graph_macs"] else 0
            skipped = macs["skipped_macs"] / macs["graph_macs"] if macs["graph_macs"] else 0.0
            t.sparsity.append({"mean_zero_fraction": c.tag("mean"), "cycles": m["total_cycles"],
                               "speedup_vs_off": off["total_cycles"] / m["total_cycles"],
                               "mac_layers_speedup_vs_off": _mac_ratio(off, m),
                               "skipped_share": skipped, "ideal_speedup": ideal_speedup(skipped),
                               "sparse_array_share": elig,
                               "dense_util": m["utilization"].get("dense_cluster", 0.0),
                               "sparse_util": m["utilization"].get("sparse_cluster", 0.0)})
    tiny = {c.tag("machine"): results.get(c.name) for c in cases if c.group == "tiny"}
    t.tiny = _vs(tiny, claims)
    groups: dict[str, dict] = {}
    for c in cases:
        if c.group != "tornado":
            continue
        g = groups.setdefault(c.tag("assumption"), {})
        g.setdefault(c.tag("side"), {"value": c.tag("value")})[c.tag("machine")] = results.get(c.name)
    for assumption, sides in groups.items():
        row = {"assumption": assumption}
        for side, d in sides.items():
            sq, fp = d.get("sqdm"), d.get("fp16-dense")
            row[f"{side}_value"] = d["value"]
            if _ok(sq) and _ok(fp):
                row[f"{side}_speedup"] = fp["total_cycles"] / sq["total_cycles"]
                row[f"{side}_energy_reduction"] = 1.0 - sq["energy_pj"] / fp["energy_pj"]
        t.tornado.append(row)
    return t


def ideal_speedup(skipped_share: float) -> float:
    """Speed-up if only the skipped MACs' time disappeared and everything else stayed: 1 / (1 - share)."""
    return 1.0 / (1.0 - skipped_share) if skipped_share < 1.0 else math.inf


# -- calibration --------------------------------------------------------------------------------------------
MAX_CALIBRATION_STEPS = 8
"""At most this many extra FP16 runs, one multiple of the granularity apart, to bracket the target."""


def calibrate(jobs: int | None = None, progress: bool | None = None) -> dict:
    """Fit the FP16 baseline's multiplier count (which stands for the area of an FP16 multiplier relative to
    an INT4 one, not given by the paper) so that 4-bit quantization alone — SQ-DM's arrays with the detector
    off — is the paper's 3.78x faster than FP16 dense at batch 1 on the paper workload; returns the
    calibration document (not written). The README argues why this is the paper's comparison."""
    w = paper_claims()["workload"]
    target = float(paper_claims()["claims"]["int4_speedup_vs_fp16"])
    base = RunSpec(hw="fp16-dense", workload=str(w["model"]), steps=int(w["evaluations"]))
    four_bit = replace(base, hw="sqdm", overrides=("detector.policy=off",))
    first = run_cases([Case("4bit", "cal", four_bit), Case("fp16", "cal", base)], jobs, progress)
    from .run import load_hardware
    n0 = load_hardware("fp16-dense").dense_cluster.multipliers
    ratio = first["fp16"]["total_cycles"] / first["4bit"]["total_cycles"]
    # FP16 time is not exactly inversely proportional to the multipliers (mapping, memory): run the two
    # multiples of the granularity around the proportional estimate (and further ones until the target is
    # bracketed) and keep the one nearer the target
    def four_bit_speedups(counts: list[int]) -> dict[int, float]:  # 4-bit alone vs FP16 with each count
        res = run_cases([Case(str(n), "cal", replace(base, overrides=(f"dense_cluster.multipliers={n}",)))
                         for n in counts], jobs, progress)
        return {n: res[str(n)]["total_cycles"] / first["4bit"]["total_cycles"] for n in counts}

    est = n0 * ratio / target / MULTIPLIER_GRANULARITY
    speedups = four_bit_speedups([c * MULTIPLIER_GRANULARITY
                                  for c in sorted({max(1, math.floor(est)), max(1, math.ceil(est))})])
    # the speed-up falls as the FP16 machine grows; until two counts bracket the target, step one multiple
    # further on the side that misses it (the estimate can land both on one side)
    for _ in range(MAX_CALIBRATION_STEPS):
        if min(speedups.values()) <= target <= max(speedups.values()):
            break
        n = min(speedups) - MULTIPLIER_GRANULARITY if max(speedups.values()) < target else \
            max(speedups) + MULTIPLIER_GRANULARITY
        if n < MULTIPLIER_GRANULARITY:
            break
        speedups.update(four_bit_speedups([n]))
    n1 = min(speedups, key=lambda n: (abs(speedups[n] - target), n))
    got = speedups[n1]
    return {"fitted_to": f"SQ-DM with the detector off (4-bit alone) vs FP16-dense = {target}x (PAPER.md [S]), "
                         f"batch 1, {w['model']} x {w['evaluations']} evaluations",
            "parameter": "fp16-dense dense_cluster.multipliers (stands for the area of one FP16 multiplier "
                         "relative to an INT4 one, which the paper does not give; uncalibrated: derived at "
                         "equal area from components/data/area_28nm.yaml)",
            "uncalibrated": {"multipliers": n0, "four_bit_speedup_vs_fp16": round(ratio, 4)},
            "calibrated": {"multipliers": n1, "four_bit_speedup_vs_fp16": round(got, 4)},
            "overrides": {"fp16-dense": [f"dense_cluster.multipliers={n1}"]}}


# -- figures ------------------------------------------------------------------------------------------------
def reproduce_figures(cases: list[Case], results: dict[str, dict], t: Tables, out: Path) -> list[Path]:
    """Write the reproduction's figures into ``out``; returns their paths."""
    from plots.reproduce import plot_component_lanes, plot_energy_by_level, plot_speedup_vs_sparsity, plot_tornado
    from plots.sparsity import plot_sparsity_heatmap
    written = []
    sq = next((c for c in cases if c.keep_timeline and _ok(results.get(c.name))), None)
    if sq is not None:
        m = results[sq.name]
        written.append(plot_component_lanes(m["timeline"], m["timeline_bin_cycles"], m["clock_ghz"],
                                            m["step_end_cycles"], out / "utilization_lanes.png",
                                            f"SQ-DM on {sq.spec.workload}, {sq.spec.steps} evaluations: "
                                            "component busy over time"))
    energy = {}
    for c in cases:
        m = results.get(c.name)
        if c.group == "main" and c.tag("condition") == "iso-area" and c.tag("batch") == 1 and _ok(m):
            energy[c.tag("machine")] = {**m["energy_by_level_pj"], "static (leakage)": m["energy_static_pj"]}
    if energy:
        written.append(plot_energy_by_level(energy, out / "energy_by_level.png",
                                            "energy by component and level (iso-area, batch 1)"))
    if t.sparsity:
        written.append(plot_speedup_vs_sparsity(t.sparsity, out / "speedup_vs_sparsity.png"))
    base = next((r for r in t.main if r["condition"] == "iso-area" and r["batch"] == 1 and r["machine"] == "sqdm"),
                None)
    if t.tornado and base is not None and "speedup_vs_fp16" in base:
        written.append(plot_tornado(t.tornado, base["speedup_vs_fp16"], base["energy_reduction_vs_fp16"],
                                    out / "tornado.png"))
    if sq is not None:  # per-channel sparsity over the steps of the profile the SQ-DM runs used
        from .run import resolve_run
        _, _, prof, _ = resolve_run(sq.spec)
        if prof is not None:
            written.append(plot_sparsity_heatmap(prof, path=out / "sparsity_heatmap.png"))
    return written
