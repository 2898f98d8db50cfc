"""Sparsity detector: labels per policy, update cost, wrong-label counts on a tiny example."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from components import (
    ActivityRecorder,
    ConfigError,
    DetectorConfig,
    LabelPolicy,
    SparsityDetector,
    labels_from_zero_fraction,
    load_shipped_config,
    parse_hardware_config,
    register_policy,
    registered_policies,
    shipped_config_path,
)

import yaml

# one layer, 4 channels, zero fractions at steps 0..3 (threshold 0.3)
ZF = np.array(
    [
        [0.10, 0.50, 0.35, 0.90],  # step 0
        [0.40, 0.20, 0.35, 0.90],  # step 1
        [0.40, 0.20, 0.10, 0.90],  # step 2
        [0.05, 0.60, 0.10, 0.29],  # step 3
    ]
)


def cfg(**kw) -> DetectorConfig:
    base = dict(counter_bits=16, channels=2, update_latency_cycles=8)
    base.update(kw)
    return DetectorConfig.model_validate(base)


def simulate(det: SparsityDetector, steps=range(4)):
    """Use labels at step t (vs truth at t), then observe step t's outputs."""
    env = det.env
    used = []

    def proc():
        for t in steps:
            used.append(det.labels("conv1", t, ZF[t]))
            yield env.process(det.observe("conv1", t, ZF[t], elements=4 * 100))

    env.process(proc())
    env.run()
    return used


def test_threshold_is_strict_and_paper_default():
    assert cfg().threshold == pytest.approx(0.30)
    assert list(labels_from_zero_fraction(np.array([0.3, 0.30001, 0.0, 1.0]), 0.3)) == [False, True, False, True]


def test_per_step_labels_and_wrong_counts():
    st = ActivityRecorder()
    det = SparsityDetector(simpy.Environment(), cfg(), st)
    used = simulate(det)
    # step 0: no counts yet -> all dense; then labels from the previous step
    assert [list(u) for u in used] == [
        [False, False, False, False],
        [False, True, True, True],
        [True, False, True, True],
        [True, False, False, True],
    ]
    # wrong vs truth at the step of use: step0: ch1,2,3 sparse but dense-labelled (3)
    # step1: ch0 sparse labelled dense, ch1 dense labelled sparse (2); step2: ch2 (1); step3: ch0, ch1, ch3 (3)
    assert det.wrong_labels == 9
    assert st.counter("detector", "wrong_dense_labels") == 3 + 1 + 0 + 1
    assert st.counter("detector", "wrong_sparse_labels") == 0 + 1 + 1 + 2
    assert st.counter("detector", "labels_used") == 16
    # 4 updates, each 4 channels on 2 hardware counters: 2 passes x 8 cycles
    assert st.counter("detector", "label_updates") == 16
    assert st.counter("detector", "zero_count_elements") == 1600
    assert st.busy_cycles("detector") == 4 * 16
    assert det.env.now == 64


def test_every_k_updates_only_on_multiples_of_k():
    st = ActivityRecorder()
    det = SparsityDetector(simpy.Environment(), cfg(policy="every_k", k=2), st)
    used = simulate(det)
    # counts from step 0 serve steps 1 and 2; step 2's counts serve step 3
    assert list(used[1]) == list(used[2]) == [False, True, True, True]
    assert list(used[3]) == [True, False, False, True]
    assert st.counter("detector", "label_update_events") == 2


def test_static_policy_uses_calibration_and_costs_nothing():
    st = ActivityRecorder()
    det = SparsityDetector(simpy.Environment(), cfg(policy="static"), st, calibration={"conv1": ZF.mean(axis=0)})
    used = simulate(det)
    # calibration means: 0.2375, 0.375, 0.225, 0.745
    assert all(list(u) == [False, True, False, True] for u in used)
    # wrong vs truth: step0 ch2 (1); step1 ch0, ch1, ch2 (3); step2 ch0, ch1 (2); step3 ch3 (1)
    assert det.wrong_labels == 1 + 3 + 2 + 1
    assert st.counter("detector", "label_updates") == 0 and det.env.now == 0


def test_oracle_is_never_wrong():
    st = ActivityRecorder()
    det = SparsityDetector(simpy.Environment(), cfg(policy="oracle"), st)
    used = simulate(det)
    assert det.wrong_labels == 0
    assert [list(u) for u in used] == [list(r > 0.3) for r in ZF]


def test_labels_need_a_channel_count_and_valid_fractions():
    det = SparsityDetector(simpy.Environment(), cfg())
    with pytest.raises(ValueError, match="channel count"):
        det.labels("x", 0)
    assert list(det.labels("x", 0, channels=3)) == [False, False, False]
    for bad in (1.5, -0.1, np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match=r"layer 'x'.*\[0, 1\]"):
            det.observe("x", 0, np.array([0.5, bad]))
        with pytest.raises(ValueError, match=r"layer 'x'.*\[0, 1\]"):
            det.assume_update("x", 0, np.array([bad, 0.5]))
    det.assume_update("x", 0, np.array([0.0, 1.0]))  # the ends are fractions
    assert list(det.labels("x", 1)) == [False, True]


def test_initial_label_sparse():
    det = SparsityDetector(simpy.Environment(), cfg(initial_label="sparse"))
    assert det.labels("x", 0, channels=2).all()


def test_custom_policy_registry_and_config():
    @register_policy("always_dense_test")
    class AlwaysDense(LabelPolicy):
        def __init__(self, cfg):
            pass

        def accepts_update(self, step):
            return False

        def labels(self, ctx):
            return np.zeros(ctx.channels, dtype=bool)

    assert {"per_step", "static", "oracle", "every_k", "always_dense_test"} <= set(registered_policies())
    d = yaml.safe_load(shipped_config_path("sqdm").read_text())
    d["detector"]["policy"] = "always_dense_test"
    hw = parse_hardware_config(d)
    det = SparsityDetector(simpy.Environment(), hw.detector)
    assert isinstance(det.policy, AlwaysDense)
    d["detector"]["policy"] = "every_k"
    with pytest.raises(ConfigError, match="detector.k"):
        parse_hardware_config(d)
