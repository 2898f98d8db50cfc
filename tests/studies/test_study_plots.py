"""`sqdm plot`: sweep curves, heatmaps and a Pareto front from a results store (plots never simulate), and
the utilization lanes of one report; `sqdm run --list`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from des.cli import main
from plots.sweep import column_label, pareto_mask


@pytest.fixture(scope="module")
def store(tmp_path_factory, micro_workload):
    import yaml
    d = tmp_path_factory.mktemp("plots")
    doc = {"format": "sqdm-scenario", "format_version": 1, "name": "pl",
           "run": {"hw": "sqdm", "workload": str(micro_workload), "steps": 1},
           "sweep": {"grid": {"hardware.dram.bandwidth_gbytes_per_s": [25.6, 102.4],
                              "hardware.detector.threshold": [0.2, 0.4, 0.6]}},
           "figures": [{"kind": "curves", "x": "hardware.dram.bandwidth_gbytes_per_s", "y": "seconds",
                        "hue": "hardware.detector.threshold",
                        "baseline": {"hardware.dram.bandwidth_gbytes_per_s": 102.4, "hardware.detector.threshold": 0.2}},
                       {"kind": "heatmap", "x": "hardware.dram.bandwidth_gbytes_per_s",
                        "y": "hardware.detector.threshold", "z": "energy_pj", "out": "heat.png"}]}
    (d / "pl.yaml").write_text(yaml.safe_dump(doc))
    assert main(["run", str(d / "pl.yaml"), "--store", str(d / "pl.sqlite"), "--workers", "0"]) == 0
    return d / "pl.sqlite"


def test_plot_scenario_figures(store, tmp_path, capsys):
    capsys.readouterr()
    assert main(["plot", str(store), "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["heat.png", "pl_0_curves.png", "pl_2_pareto.png"], files
    assert all((tmp_path / f).stat().st_size > 10_000 for f in files) and out.count("wrote") == 3


@pytest.mark.parametrize("argv", [
    ["--kind", "curves", "--x", "hardware.detector.threshold", "--y", "energy_pj_per_image"],
    ["--kind", "heatmap", "--x", "hardware.detector.threshold", "--y", "hardware.dram.bandwidth_gbytes_per_s",
     "--z", "utilization.dram"],
    ["--kind", "pareto"],
])
def test_plot_kinds(store, tmp_path, argv):
    out = tmp_path / "f.svg"
    assert main(["plot", str(store), *argv, "--out", str(out)]) == 0
    text = out.read_text()
    assert "<svg" in text


@pytest.mark.parametrize("argv,match", [
    (["--kind", "curves", "--x", "run.nope", "--out", "X.png"], "no column run.nope"),
    (["--kind", "curves"], "give --out"),
    (["--scenario", "other"], "no points of scenario 'other'"),
    (["--kind", "pareto", "--out", "X.txt"], "suffix"),
])
def test_plot_bad_input(store, tmp_path, argv, match, capsys):
    argv = [a.replace("X", str(tmp_path / "x")) for a in argv]
    assert main(["plot", str(store), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sqdm: error:") and match in err and "\n" not in err, err


def test_plot_not_a_store(tmp_path, capsys):
    bad = tmp_path / "x.sqlite"
    bad.write_text("hello")
    assert main(["plot", str(bad)]) == 2
    assert "not an sqdm results store" in capsys.readouterr().err


def test_utilization_lanes_from_report(tmp_path, capsys):
    rep = tmp_path / "r.json"
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--steps", "3", "--out", str(rep)]) == 0
    png = tmp_path / "lanes"
    assert main(["plot", "--report", str(rep), "--out", str(png)]) == 0
    assert (tmp_path / "lanes.png").stat().st_size > 20_000
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    assert main(["plot", "--report", str(tmp_path / "bad.json"), "--out", str(png)]) == 2


def test_list_points(store, capsys):
    scen = store.with_name("pl.yaml")
    assert main(["run", str(scen), "--store", str(store), "--list"]) == 0
    out = capsys.readouterr().out
    assert out.count(" ok ") == 6 and "6 point(s), 6 stored" in out


def test_pareto_mask_and_labels():
    v = np.array([[1, 5, 1], [2, 2, 1], [3, 3, 1], [1, 5, 2], [np.nan, 1, 1]])
    assert pareto_mask(v).tolist() == [True, True, False, False, False]
    assert column_label("seconds") == ("latency of the run (ms)", 1e3)
    assert column_label("hardware.dram.bandwidth_gbytes_per_s")[0] == "dram.bandwidth_gbytes_per_s (GB/s)"
    assert column_label("utilization.dram")[1] == 100.0
