"""Scenario files: the schema, sweep expansion (grid x zip x random), hashes, and bad scenarios as one line."""
from __future__ import annotations

import os
import time

import pytest

from des.cli import main
from des.scenario import ScenarioError, load_scenario, parse_scenario


def test_grid_zip_product_and_points(write_scenario):
    path = write_scenario(
        hardware={"dram.bandwidth_gbytes_per_s": 51.2},
        sweep=[{"grid": {"hardware.dram.bandwidth_gbytes_per_s": [25.6, 102.4], "run.batch": [1, 2]}},
               {"zip": {"hardware.detector.policy": ["per_step", "every_k"], "hardware.detector.k": [None, 2]}}])
    sc = load_scenario(path)
    assert sc.size() == 8 and sc.swept_paths() == ["hardware.dram.bandwidth_gbytes_per_s", "run.batch",
                                                   "hardware.detector.policy", "hardware.detector.k"]
    pts = sc.points()
    assert len(pts) == 8 and [p.index for p in pts] == list(range(8))
    assert len({p.hash for p in pts}) == 8
    p = pts[3]  # grid (25.6, 2) x zip[1]
    assert p.params == {"hardware.dram.bandwidth_gbytes_per_s": 25.6, "run.batch": 2,
                        "hardware.detector.policy": "every_k", "hardware.detector.k": 2}
    assert p.spec.batch == 2 and p.spec.steps == 1 and os.path.isabs(p.spec.workload)
    # the sweep's value wins over the scenario's own edit of the same field
    assert p.spec.overrides == ("dram.bandwidth_gbytes_per_s=25.6", 'detector.policy="every_k"', "detector.k=2")
    assert p.config["hardware"]["dram"]["bandwidth_gbytes_per_s"] == 25.6
    # same description, same hash; hashes do not depend on the folder the scenario sits in
    assert [q.hash for q in load_scenario(path).points()] == [q.hash for q in pts]


def test_single_point_without_sweep_and_heun_evaluations(write_scenario):
    pts = load_scenario(write_scenario(run={"sampler": "heun", "steps": 18})).points()
    assert len(pts) == 1 and pts[0].spec.steps == 35 and pts[0].sampler_steps == 18 and pts[0].params == {}


def test_random_sweep_is_seeded_and_bounded(write_scenario):
    sweep = {"random": {"samples": 6, "seed": 3, "fields": {
        "hardware.detector.threshold": {"uniform": [0.1, 0.6], "digits": 3},
        "hardware.sparse_cluster.multipliers": {"integer": [256, 1024], "multiple_of": 128},
        "run.batch": {"choice": [1, 2, 4]}}}}
    a = load_scenario(write_scenario(sweep=sweep)).points()
    b = load_scenario(write_scenario(sweep=sweep)).points()
    assert [p.params for p in a] == [p.params for p in b]
    for p in a:
        assert 0.1 <= p.params["hardware.detector.threshold"] <= 0.6
        assert p.params["hardware.sparse_cluster.multipliers"] % 128 == 0
        assert p.params["run.batch"] in (1, 2, 4)


def test_duplicate_points_are_dropped(write_scenario):
    pts = load_scenario(write_scenario(sweep={"grid": {"run.batch": [1, 2, 1]}})).points()
    assert [p.params["run.batch"] for p in pts] == [1, 2]


def test_hash_follows_file_contents(write_scenario, tmp_path, micro_workload):
    import shutil
    wl = tmp_path / "w.json"
    shutil.copy(micro_workload, wl)
    path = write_scenario(run={"workload": "w.json"})  # relative to the scenario file
    h1 = load_scenario(path).points()[0].hash
    time.sleep(0.01)
    wl.write_text(wl.read_text().replace('"micro"', '"micro2"'))
    assert load_scenario(path).points()[0].hash != h1


def test_equal_area_sizing_through_overrides(write_scenario):
    """A sweep of the sparse array with the dense one sized to sqdm's area (docs/sizing.md)."""
    hw = {"sizing": {"iso_area_with": "sqdm", "resize": "dense_cluster", "multiplier_granularity": 16,
                     "max_area_error_fraction": 0.02}, "dense_cluster.multipliers": None}
    pts = load_scenario(write_scenario(hardware=hw, sweep={"grid": {"hardware.sparse_cluster.multipliers":
                                                                    [512, 1024]}})).points()
    dense = [p.config["hardware"]["dense_cluster"]["multipliers"] for p in pts]
    assert dense[1] == 1024 and dense[0] > 2000  # a sparse multiplier costs ~2.8 dense ones


BAD = [
    ("unknown top-level key", dict(extra_key=1), "extra_key: unknown key"),
    ("unknown run field", dict(run={"bogus": 1}), "run.bogus: unknown key"),
    ("wrong type", dict(run={"batch": "two"}), "run.batch"),
    ("out of bounds", dict(run={"steps": 0}), "run.steps"),
    ("unknown sweep field", dict(sweep={"grid": {"run.nope": [1]}}), "unknown run field 'nope'"),
    ("unknown hardware field", dict(sweep={"grid": {"hardware.dram.bandwith": [1.0]}}),
     "unknown hardware field 'bandwith' of dram"),
    ("unknown hardware section", dict(hardware={"dramm.channels": 2}), "unknown hardware field 'dramm'"),
    ("value, not a section", dict(sweep={"grid": {"hardware.clock_ghz.x": [1]}}), "is a value, not a section"),
    ("not a path", dict(sweep={"grid": {"batch": [1]}}), "not a field path"),
    ("empty sweep list", dict(sweep=[]), "empty sweep"),
    ("empty grid", dict(sweep={"grid": {}}), "empty sweep"),
    ("empty values", dict(sweep={"grid": {"run.batch": []}}), "empty sweep"),
    ("zip lengths", dict(sweep={"zip": {"run.batch": [1, 2], "run.steps": [1]}}), "different lengths"),
    ("two kinds in a block", dict(sweep={"grid": {"run.batch": [1]}, "zip": {"run.steps": [1]}}), "exactly one"),
    ("swept twice", dict(sweep=[{"grid": {"run.batch": [1]}}, {"grid": {"run.batch": [2]}}]), "already swept"),
    ("wrong type in sweep", dict(sweep={"grid": {"run.batch": [1, "x"]}}), "run.batch"),
    ("hardware value refused", dict(sweep={"grid": {"hardware.dram.bandwidth_gbytes_per_s": [-1]}}),
     "dram.bandwidth_gbytes_per_s"),
    ("hardware type refused", dict(hardware={"dram.channels": "four"}), "dram.channels"),
    ("unknown machine", dict(run={"hw": "nope"}), "run.hw"),
    ("missing workload file", dict(run={"workload": "missing.json"}), "run.workload"),
    ("unknown policy", dict(run={"policy": "nope"}), "run.policy"),
    ("not a number", dict(hardware={"dram.bandwidth_gbytes_per_s": float("nan")}), "not JSON compliant"),
    ("huge integer draw", dict(sweep={"random": {"samples": 2, "seed": 0, "fields": {
        "hardware.global_buffer.capacity_bytes": {"integer": [0, 2**63]}}}}), "less than or equal to"),
    ("bad format version", dict(format_version=2), "format_version: 2 is not supported"),
    ("grid too large", dict(sweep={"grid": {f"run.{k}": list(range(1, 60)) for k in ("batch", "steps", "seed")}}),
     "more than the 100,000"),
]


@pytest.mark.parametrize("what,doc,match", BAD, ids=[b[0] for b in BAD])
def test_bad_scenario_is_one_line_exit_2(what, doc, match, write_scenario, capsys, tmp_path):
    path = write_scenario(**doc)
    store = tmp_path / "s.sqlite"
    assert main(["run", str(path), "--store", str(store), "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sqdm: error:") and "\n" not in err, err
    assert match in err, err
    assert not store.exists()  # nothing ran, nothing was written


@pytest.mark.parametrize("content,match", [
    (None, "not found"),
    ("a: [1, 2", "invalid YAML"),
    ("- 1\n- 2\n", "must be a mapping"),
    ("format: other\n", "format: must be 'sqdm-scenario'"),
    (b"\xff\xfe\x00", "not UTF-8"),
])
def test_unreadable_scenario_file(content, match, tmp_path, capsys):
    path = tmp_path / "s.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert main(["run", str(path), "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sqdm: error:") and "\n" not in err and match in err, err


def test_folder_is_not_a_scenario(tmp_path, capsys):
    assert main(["run", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_parse_scenario_from_python(micro_workload):
    sc = parse_scenario({"format": "sqdm-scenario", "format_version": 1, "name": "py",
                         "run": {"workload": str(micro_workload), "steps": 1},
                         "sweep": {"grid": {"run.seed": [1, 2]}}})
    assert [p.spec.seed for p in sc.points()] == [1, 2]
    with pytest.raises(ScenarioError, match="name"):
        parse_scenario({"format": "sqdm-scenario", "format_version": 1, "name": "bad name!",
                        "run": {"workload": "tiny-digits"}})


def test_shipped_scenarios_load():
    """Every scenario file in scenarios/ (format sqdm-scenario; other YAML there, such as the calibration of
    the paper reproduction, is not a scenario) validates and expands; nothing is simulated."""
    from pathlib import Path

    import yaml
    root = Path(__file__).resolve().parents[2] / "scenarios"
    files = [f for f in sorted(root.rglob("*.yaml"))
             if isinstance(d := yaml.safe_load(f.read_text()), dict) and d.get("format") == "sqdm-scenario"]
    names = {f.stem for f in files}
    assert {"sparse_dense_ratio", "dram_batch", "detector_policy"} <= names
    for f in files:
        sc = load_scenario(f)
        assert sc.points(), f
