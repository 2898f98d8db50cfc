"""The synthetic profile: one source of defaults, a per-step drift and a smooth per-channel wander (prefix
property), the fit as its inverse, and the measured profile's step-to-step behaviour reproduced."""
from pathlib import Path

import numpy as np
import pytest
import yaml

import workloads.profile as profile_mod
from workloads import (SYNTHETIC_DEFAULTS_FILE, SparsityProfile, WorkloadError, WorkloadFileError, build_workload,
                       fit_synthetic_profile, synthetic_profile, synthetic_profile_defaults)

ROOT = Path(__file__).resolve().parents[2]
MEASURED = ROOT / "docs" / "tiny-digits-sqdm.profile.npz"
SPREADS = ("node_spread", "channel_spread", "drift_per_step", "step_noise", "smooth_noise", "smooth_noise_root")
NO_WANDER = {"smooth_noise": 0.0, "smooth_noise_root": 0.0}


@pytest.fixture(scope="module")
def g():
    return build_workload("tiny-digits", activation="relu")


def _conv(g, zf: dict) -> dict:
    return {n: a for n, a in zf.items() if g.nodes[n]["kind"] == "conv"}


def _same(a: SparsityProfile, b: SparsityProfile, steps: int | None = None) -> bool:
    return a.node_ids == b.node_ids and all(
        np.array_equal(a.zero_fraction[n][:steps], b.zero_fraction[n][:steps]) for n in a.node_ids)


def test_defaults_come_from_the_data_file(g):
    d = synthetic_profile_defaults()
    assert SYNTHETIC_DEFAULTS_FILE.parent.name == "data" and SYNTHETIC_DEFAULTS_FILE.parent.parent.name == "workloads"
    assert d == yaml.safe_load(SYNTHETIC_DEFAULTS_FILE.read_text())["generator"]
    implicit, explicit = synthetic_profile(g, 5), synthetic_profile(g, 5, **d)
    assert _same(implicit, explicit)
    assert {k: implicit.info[k] for k in d} == d
    d["mean"] = 0.1  # a copy: the defaults themselves are not changed
    assert synthetic_profile_defaults()["mean"] == pytest.approx(0.65)


@pytest.mark.parametrize("short,long", [(10, 50), (3, 20), (1, 7), (20, 21)])
def test_prefix_property(g, short, long):
    """The drift is per step: the first steps of a longer run are the shorter run, bit for bit."""
    a, b = synthetic_profile(g, short), synthetic_profile(g, long)
    assert _same(a, b, short)
    assert a.info["offset_logit"] == b.info["offset_logit"]  # solved over reference_steps, not the run
    assert _same(synthetic_profile(g, short, drift_per_step=0.4, seed=5, reference_steps=4),
                 synthetic_profile(g, long, drift_per_step=0.4, seed=5, reference_steps=4), short)
    assert _same(synthetic_profile(g, short, seed=2, **NO_WANDER), synthetic_profile(g, long, seed=2, **NO_WANDER),
                 short)


def test_mean_is_hit_over_the_reference_horizon(g):
    ref = synthetic_profile_defaults()["reference_steps"]
    assert synthetic_profile(g, ref).mean() == pytest.approx(0.65, abs=1e-5)
    assert synthetic_profile(g, ref, mean=0.3, reference_steps=ref).mean() == pytest.approx(0.3, abs=1e-5)
    assert synthetic_profile(g, 7, reference_steps=7, mean=0.8).mean() == pytest.approx(0.8, abs=1e-5)
    assert abs(synthetic_profile(g, 10).mean() - 0.65) < 0.02  # half the horizon: near it
    one = synthetic_profile(g, 3, mean=1.0)
    assert one.mean() == 1.0 and one.info["offset_logit"] is None


def test_drift_is_per_step(g):
    """With the other terms off, each channel's logit moves by the same drift rate every step, from the
    first step to far beyond the reference horizon, and the rates spread by drift_per_step."""
    p = synthetic_profile(g, 60, channel_spread=0.0, node_spread=0.0, step_noise=0.0, drift_per_step=0.02, mean=0.5,
                          **NO_WANDER)
    n = p.node_ids[0]
    logit = np.log(p.zero_fraction[n].astype(np.float64) / (1 - p.zero_fraction[n]))
    rate = np.diff(logit, axis=0)
    np.testing.assert_allclose(rate, np.broadcast_to(rate[0], rate.shape), atol=1e-4)  # a constant rate per channel
    assert rate[0].std() == pytest.approx(0.02, rel=0.3)


def test_fit_recovers_generator_parameters(g):
    truth = {"mean": 0.5, "node_spread": 0.3, "channel_spread": 1.0, "drift_per_step": 0.08, "step_noise": 0.2}
    syn = synthetic_profile(g, 30, reference_steps=30, seed=3, **truth, **NO_WANDER)
    f = fit_synthetic_profile(syn.zero_fraction, logit_clip=1e-6)
    assert f["reference_steps"] == 30 and f["mean"] == pytest.approx(0.5, abs=1e-5)
    assert f["channel_spread"] == pytest.approx(1.0, rel=0.1)
    assert f["drift_per_step"] == pytest.approx(0.08, rel=0.1)
    # no wander in: the noise out is white (a short-memory wander and jitter are the same thing to the fit)
    total = f["step_noise"] ** 2 + f["smooth_noise"] ** 2
    assert np.sqrt(total) == pytest.approx(0.2, rel=0.1)
    r = f["smooth_noise_root"]
    assert f["smooth_noise"] ** 2 * 2 * r / (1 + r * r) / total < 0.05  # the fitted noise's lag-1 correlation


def test_fit_recovers_a_wander(g):
    """A smooth wander under white jitter is told apart from both, and from the channel spread and drift,
    over a horizon several times its memory."""
    truth = {"channel_spread": 1.0, "drift_per_step": 0.02, "step_noise": 0.2, "smooth_noise": 0.8,
             "smooth_noise_root": 0.6}
    syn = synthetic_profile(g, 80, reference_steps=80, seed=4, mean=0.5, **truth)
    f = fit_synthetic_profile(syn.zero_fraction, logit_clip=1e-6)
    for k, rel in (("channel_spread", 0.1), ("step_noise", 0.15), ("smooth_noise", 0.1)):
        assert f[k] == pytest.approx(truth[k], rel=rel), k
    assert f["smooth_noise_root"] == pytest.approx(0.6, abs=0.05)
    assert f["drift_per_step"] == pytest.approx(0.02, abs=0.01)


def test_wander_has_the_stated_correlation():
    """The wander alone: N(0, smooth_noise) at every step, lag-k correlation r^k (1 + k (1 - r^2) / (1 + r^2)),
    from the first step on (a stationary start)."""
    from workloads.step_noise import add_step_noise, wander_correlation
    x = add_step_noise(np.zeros((12, 40000)), np.random.default_rng(0), 0.0, 1.5, 0.8)
    assert x.std(axis=1) == pytest.approx(np.full(12, 1.5), rel=0.03)
    emp = np.corrcoef(x)
    np.testing.assert_allclose(emp, wander_correlation(12, 0.8), atol=0.03)
    assert wander_correlation(3, 0.8)[0, 1] == pytest.approx(2 * 0.8 / (1 + 0.64))


def test_shipped_defaults_are_the_fit_of_the_measured_profile(g):
    """The data file's spreads = fit_synthetic_profile over the measured profile's convolutions (rounded to 3
    significant digits)."""
    measured = SparsityProfile.load(MEASURED)
    fit = fit_synthetic_profile(_conv(g, measured.zero_fraction))
    d = synthetic_profile_defaults()
    assert fit["reference_steps"] == measured.steps == d["reference_steps"]
    for k in SPREADS:
        assert d[k] == pytest.approx(fit[k], rel=5e-3), k


def _step_stats(g, zf: dict, threshold: float = 0.3) -> dict:
    """What a per-step detector sees: how often a channel's label at step t equals its label at t + 1, the
    rms step-to-step change of the logits, the pooled lag-1 correlation of the detrended logits, and the
    spread of the channels' mean logits."""
    same, diffs, num, den, chan = [], [], 0.0, 0.0, []
    for a in _conv(g, zf).values():
        a = np.asarray(a, np.float64)
        lab = a > threshold
        same.append(lab[1:] == lab[:-1])
        q = np.clip(a, 0.01, 0.99)
        L = np.log(q / (1 - q))
        diffs.append(np.diff(L, axis=0))
        t = np.arange(len(L)) - (len(L) - 1) / 2.0
        r = L - L.mean(0) - t[:, None] * ((t[:, None] * (L - L.mean(0))).sum(0) / (t @ t))
        num, den = num + float((r[1:] * r[:-1]).sum()), den + float((r * r).sum())
        chan.append(L.mean(0) - L.mean())
    return {"label_kept": float(np.mean(np.concatenate([s.ravel() for s in same]))),
            "rms_step_change": float(np.sqrt(np.mean(np.concatenate([d.ravel() for d in diffs]) ** 2))),
            "lag1": num / den, "channel_spread": float(np.std(np.concatenate(chan)))}


def test_synthetic_at_20_steps_moves_like_the_measured_profile(g):
    """The default synthetic profile over the fitted horizon moves from step to step as the measured one
    does (what a per-step detector relies on), and has its spreads; independent steps (the generator
    without its wander, spreads fitted that way) would not: they change a channel's label twice as often."""
    measured_zf = SparsityProfile.load(MEASURED).zero_fraction
    measured = fit_synthetic_profile(_conv(g, measured_zf))
    ref = measured["reference_steps"]
    syn = fit_synthetic_profile(_conv(g, synthetic_profile(g, ref).zero_fraction))
    assert syn["mean"] == pytest.approx(measured["mean"], abs=0.02)  # 0.65 (PAPER.md) vs measured 0.642
    for k, rel in (("step_noise", 0.1), ("smooth_noise", 0.15), ("drift_per_step", 0.15), ("node_spread", 0.5)):
        assert syn[k] == pytest.approx(measured[k], rel=rel), k
    m, s = _step_stats(g, measured_zf), _step_stats(g, synthetic_profile(g, ref).zero_fraction)
    assert s["lag1"] == pytest.approx(m["lag1"], abs=0.1)
    assert s["rms_step_change"] == pytest.approx(m["rms_step_change"], rel=0.2)
    assert s["channel_spread"] == pytest.approx(m["channel_spread"], rel=0.15)
    assert abs(s["label_kept"] - m["label_kept"]) < 0.04
    iid = synthetic_profile(g, ref, channel_spread=1.35, drift_per_step=0.157, step_noise=0.594, **NO_WANDER)
    i = _step_stats(g, iid.zero_fraction)  # the generator's defaults before the wander
    assert i["lag1"] < 0 and i["rms_step_change"] > 1.5 * m["rms_step_change"]
    assert (1 - i["label_kept"]) > 2 * (1 - m["label_kept"])


@pytest.mark.parametrize("field,value,match", [
    ("drift_per_step", -0.1, "drift_per_step=-0.1"), ("reference_steps", 0, "reference_steps=0"),
    ("smooth_noise", -1.0, "smooth_noise=-1.0"), ("smooth_noise_root", 1.0, "smooth_noise_root=1.0"),
    ("seed", -1, "seed=-1"), ("step_noise", float("nan"), "step_noise=nan"), ("mean", True, "mean=True")])
def test_bad_generator_arguments(g, field, value, match):
    with pytest.raises(WorkloadError, match=match):
        synthetic_profile(g, 3, **{field: value})


def test_bad_defaults_file_names_the_field(g, tmp_path, monkeypatch):
    data = yaml.safe_load(SYNTHETIC_DEFAULTS_FILE.read_text())
    data["generator"]["step_noise"] = -1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(profile_mod, "SYNTHETIC_DEFAULTS_FILE", bad)
    profile_mod._defaults_file.cache_clear()
    try:
        with pytest.raises(WorkloadFileError, match=r"generator\.step_noise=-1 must be") as e:
            synthetic_profile(g, 3)
        assert "\n" not in str(e.value) and str(bad) in str(e.value)
        del data["generator"]["seed"]
        bad.write_text(yaml.safe_dump(data))
        profile_mod._defaults_file.cache_clear()
        with pytest.raises(WorkloadFileError, match=r"'generator\.seed' missing"):
            synthetic_profile_defaults()
    finally:
        profile_mod._defaults_file.cache_clear()


def test_fit_bad_input():
    with pytest.raises(WorkloadError, match="no node"):
        fit_synthetic_profile({})
    with pytest.raises(WorkloadError, match="different step counts"):
        fit_synthetic_profile({"a": np.zeros((2, 3)), "b": np.zeros((3, 3))})
    with pytest.raises(WorkloadError, match="logit_clip"):
        fit_synthetic_profile({"a": np.zeros((2, 3))}, logit_clip=0.7)


def test_defaults_file_ships_as_package_data():
    """pyproject's package-data globs *.yaml in every package found; workloads/data (no __init__.py) is found
    as a namespace package, so a non-editable install carries the defaults file."""
    import fnmatch
    import tomllib

    from setuptools import find_namespace_packages
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert cfg["packages"]["find"].get("namespaces", True)
    assert "workloads.data" in find_namespace_packages(str(ROOT), include=cfg["packages"]["find"]["include"])
    assert any(fnmatch.fnmatch(SYNTHETIC_DEFAULTS_FILE.name, pat) for pat in cfg["package-data"]["*"])


def test_offset_bisection_mean_is_the_plain_formula_bit_for_bit():
    """The bisection's scratch-array mean (four passes, halving folded out) equals the plain
    ``mean(sigmoid(x + offset))`` to the last bit, so the offset, and every profile, is unchanged by it."""
    from workloads.profile import _MeanSigmoid, _sigmoid
    rng = np.random.default_rng(7)
    for _ in range(10):
        flat = rng.normal(rng.uniform(-5, 5), rng.uniform(0.1, 8), size=int(rng.integers(1, 50_000)))
        mean_at = _MeanSigmoid(flat)
        for offset in [*rng.uniform(-60, 60, 20), 0.0, 1e-13, -59.999]:
            assert mean_at(offset) == float(np.mean(_sigmoid(flat + offset)))
