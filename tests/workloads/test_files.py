"""Workload files and sparsity profiles: lossless round trips, clear errors, the synthetic generator."""
import json

import numpy as np
import pytest

from workloads import (ProfileMismatchError, SparsityProfile, WorkloadError, WorkloadFileError, build_workload,
                       eligible_nodes, read_graph, synthetic_profile, write_graph)


@pytest.fixture(scope="module")
def g():
    return build_workload("tiny-digits", activation="relu")


def test_graph_round_trip_is_lossless(g, tmp_path):
    p = write_graph(g, tmp_path / "g.json")
    h = read_graph(p)
    assert list(h.nodes) == list(g.nodes)
    assert dict(h.nodes(data=True)) == dict(g.nodes(data=True))
    assert {(u, v): d for u, v, d in h.edges(data=True)} == {(u, v): d for u, v, d in g.edges(data=True)}
    assert h.graph == g.graph


def test_graph_round_trip_large_model(tmp_path):
    g = build_workload("ddpm-cifar10", activation="relu", batch=2)
    h = read_graph(write_graph(g, tmp_path / "d.json"))
    assert dict(h.nodes(data=True)) == dict(g.nodes(data=True)) and h.graph == g.graph


@pytest.mark.parametrize("content,match", [
    ("{not json", "not valid JSON"),
    ('{"format": "sqdm-workload", "format_version": 1, "graph": {"nodes": [', "not valid JSON"),
    ('{"format": "other"}', "not an sqdm workload file"),
    ('[1, 2]', "not an sqdm workload file"),
    ('{"format": "sqdm-workload", "format_version": 99, "graph": {}}', "format_version 99 is not supported"),
    ('{"format": "sqdm-workload", "format_version": 1, "graph": {"nodes": 3}}', "'nodes' and 'edges'"),
])
def test_bad_workload_files(tmp_path, content, match):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(WorkloadFileError, match=match) as e:
        read_graph(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_truncated_and_missing_workload_file(g, tmp_path):
    p = write_graph(g, tmp_path / "g.json")
    p.write_text(p.read_text()[: len(p.read_text()) // 2])
    with pytest.raises(WorkloadFileError, match="perhaps truncated"):
        read_graph(p)
    with pytest.raises(WorkloadFileError, match="not found"):
        read_graph(tmp_path / "missing.json")


def test_workload_file_node_missing_field_and_cycle(g, tmp_path):
    data = json.loads(write_graph(g, tmp_path / "g.json").read_text())
    del data["graph"]["nodes"][3]["macs"]
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(WorkloadFileError, match="lacks field"):
        read_graph(tmp_path / "m.json")
    data = json.loads((tmp_path / "g.json").read_text())
    first, last = data["graph"]["nodes"][0]["id"], data["graph"]["nodes"][-1]["id"]
    data["graph"]["edges"].append({"source": last, "target": first, "elements": 1, "operands": [0], "kind": "data"})
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(WorkloadFileError, match="cycle"):
        read_graph(tmp_path / "c.json")


def test_profile_round_trip_and_attach(g, tmp_path):
    prof = synthetic_profile(g, steps=7, mean=0.6, seed=3)
    ids = prof.node_ids
    prof.tile_channels = 8
    prof.tile_zero_fraction = {n: (prof.zero_fraction[n][:, ::8] * 0.5).astype(np.float32) for n in ids}
    back = SparsityProfile.load(prof.save(tmp_path / "p.npz"))
    assert back.kind == "synthetic" and back.steps == 7 and back.node_ids == ids and back.info == prof.info
    for n in ids:
        np.testing.assert_array_equal(back.zero_fraction[n], prof.zero_fraction[n])
        np.testing.assert_array_equal(back.tile_zero_fraction[n], prof.tile_zero_fraction[n])
    h = back.attach(g)
    assert h.graph["profile"]["kind"] == "synthetic"
    n0 = ids[0]
    assert h.nodes[n0]["zero_fraction"].shape == (7, g.nodes[n0]["in_channels"])
    assert "zero_fraction" not in g.nodes[n0]  # attach copies


def test_profile_mismatch_errors(g):
    prof = synthetic_profile(g, steps=3, seed=0)
    other = build_workload("ddpm-cifar10", activation="relu")
    with pytest.raises(ProfileMismatchError, match="missing"):
        prof.validate(other)
    ids = prof.node_ids
    bad = SparsityProfile("synthetic", "tiny-digits", 3, {n: prof.zero_fraction[n] for n in ids[1:]})
    with pytest.raises(ProfileMismatchError, match=f"missing, e.g. '{ids[0]}'"):
        bad.validate(g)
    wrong = dict(prof.zero_fraction)
    wrong[ids[0]] = np.zeros((3, 5), np.float32)
    with pytest.raises(ProfileMismatchError, match="5 channels"):
        SparsityProfile("synthetic", "tiny-digits", 3, wrong).validate(g)
    extra = dict(prof.zero_fraction)
    extra["conv_in:conv2d"] = np.zeros((3, 1), np.float32)
    with pytest.raises(ProfileMismatchError, match="not sparse-eligible"):
        SparsityProfile("synthetic", "tiny-digits", 3, extra).validate(g)


def test_profile_value_checks():
    with pytest.raises(WorkloadError, match="within \\[0, 1\\]"):
        SparsityProfile("measured", "m", 2, {"a": np.full((2, 3), 1.5)})
    with pytest.raises(WorkloadError, match="not \\[steps=2"):
        SparsityProfile("measured", "m", 2, {"a": np.zeros((3, 3))})
    with pytest.raises(WorkloadError, match="kind"):
        SparsityProfile("guessed", "m", 2, {})


@pytest.mark.parametrize("content", [b"garbage", b"PK\x03\x04trunc"])
def test_bad_profile_files(tmp_path, content):
    p = tmp_path / "p.npz"
    p.write_bytes(content)
    with pytest.raises(WorkloadFileError, match="not a readable .npz profile"):
        SparsityProfile.load(p)


def test_profile_wrong_version_and_truncated(g, tmp_path):
    prof = synthetic_profile(g, steps=2, seed=0)
    p = prof.save(tmp_path / "p.npz")
    with np.load(p) as z:
        meta = json.loads(str(z["meta"]))
        zf = z["zero_fraction"]
    meta["format_version"] = 7
    np.savez(tmp_path / "v.npz", meta=np.array(json.dumps(meta)), zero_fraction=zf)
    with pytest.raises(WorkloadFileError, match="format_version 7"):
        SparsityProfile.load(tmp_path / "v.npz")
    meta["format_version"] = 1
    np.savez(tmp_path / "t.npz", meta=np.array(json.dumps(meta)), zero_fraction=zf[:-5])
    with pytest.raises(WorkloadFileError, match="expected .* values"):
        SparsityProfile.load(tmp_path / "t.npz")
    raw = p.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(WorkloadFileError):
        SparsityProfile.load(tmp_path / "cut.npz")
    with pytest.raises(WorkloadFileError, match="not found"):
        SparsityProfile.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("mean", [0.05, 0.3, 0.5, 0.65, 0.9])
def test_generator_hits_mean(g, mean):
    prof = synthetic_profile(g, steps=20, mean=mean, channel_spread=1.5, drift_per_step=0.1, reference_steps=20,
                             seed=11)
    assert prof.kind == "synthetic"
    assert prof.mean() == pytest.approx(mean, rel=0.01)


def test_generator_spread_drift_and_seed(g):
    kw = dict(steps=10, mean=0.5, channel_spread=1.0, drift_per_step=0.33, step_noise=0.0,  # ~3 logits over 9 steps
              smooth_noise=0.0)
    a = synthetic_profile(g, **kw, seed=1)
    b = synthetic_profile(g, **kw, seed=1)
    c = synthetic_profile(g, **kw, seed=2)
    n = a.node_ids[0]
    np.testing.assert_array_equal(a.zero_fraction[n], b.zero_fraction[n])
    assert not np.array_equal(a.zero_fraction[n], c.zero_fraction[n])
    assert a.zero_fraction[n][0].std() > 0.01  # channels differ
    assert np.abs(a.zero_fraction[n][-1] - a.zero_fraction[n][0]).mean() > 0.05  # channels drift over steps
    flat = synthetic_profile(g, steps=4, mean=0.4, channel_spread=0, node_spread=0, drift_per_step=0, step_noise=0,
                             smooth_noise=0)
    for arr in flat.zero_fraction.values():
        np.testing.assert_allclose(arr, 0.4, atol=1e-5)


def test_generator_bad_parameters(g):
    with pytest.raises(WorkloadError, match="mean=1.5"):
        synthetic_profile(g, steps=3, mean=1.5)
    with pytest.raises(WorkloadError, match="channel_spread"):
        synthetic_profile(g, steps=3, channel_spread=-1)
    with pytest.raises(WorkloadError, match="drift_per_step"):
        synthetic_profile(g, steps=3, drift_per_step=-1)
    with pytest.raises(WorkloadError, match="steps"):
        synthetic_profile(g, steps=0)
    with pytest.raises(WorkloadError, match="no sparse-eligible"):
        synthetic_profile(build_workload("tiny-digits", activation="silu"), steps=3)
    assert eligible_nodes(g)
