"""`sqdm simulate`: every shipped machine on every zoo model with the defaults; bad input is one line."""
import json

import pytest

from components import list_shipped_configs
from des.cli import main
from workloads import list_models


@pytest.mark.parametrize("hw", list_shipped_configs())
@pytest.mark.parametrize("model", [m for m in list_models() if m != "sd15-unet"])
def test_simulate_each_config_each_model(hw, model, capsys, tmp_path):
    out = tmp_path / "r.json"
    assert main(["simulate", "--hw", hw, "--workload", model, "--steps", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{model} on {hw}" in text and "cycles" in text and "utilization" in text
    d = json.loads(out.read_text())
    assert d["total_cycles"] > 0 and d["steps"] == 2
    assert d["macs"]["dense_executed_macs"] + d["macs"]["sparse_executed_macs"] + d["macs"]["skipped_macs"] == \
        pytest.approx(d["macs"]["graph_macs"], rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("hw", list_shipped_configs())
def test_simulate_sd15(hw, capsys):
    assert main(["simulate", "--hw", hw, "--workload", "sd15-unet"]) == 0
    assert "sd15-unet on" in capsys.readouterr().out


def test_simulate_workload_file_profile_and_plot(tmp_path, capsys):
    from workloads import build_workload, synthetic_profile, write_graph
    g = build_workload("tiny-digits", activation="relu")
    wf = write_graph(g, tmp_path / "g.json")
    prof = synthetic_profile(g, 4, mean=0.5, seed=1).save(tmp_path / "p.npz")
    png = tmp_path / "u.png"
    assert main(["simulate", "--hw", "sqdm", "--workload", str(wf), "--profile", str(prof), "--steps", "4",
                 "--plot", str(png)]) == 0
    assert png.stat().st_size > 10_000
    assert "profile synthetic" in capsys.readouterr().out


@pytest.mark.parametrize("argv,match", [
    (["--hw", "nope", "--workload", "tiny-digits"], "hardware 'nope'"),
    (["--hw", "sqdm", "--workload", "nope"], "workload 'nope'"),
    (["--hw", "sqdm", "--workload", "tiny-digits", "--steps", "0"], "steps=0"),
    (["--hw", "sqdm", "--workload", "tiny-digits", "--policy", "nope"], "policy 'nope'"),
    (["--hw", "sqdm", "--workload", "tiny-digits", "--profile", "/nonexistent.npz"], "not found"),
    (["--hw", "int4-dense", "--workload", "tiny-digits", "--policy", "fp16"], "not supported by dense_cluster"),
    (["--hw", "sqdm", "--workload", "ddpm-cifar10", "--steps", "3", "--profile", "PROFILE"], "does not fit"),
])
def test_simulate_bad_input(argv, match, capsys, tmp_path):
    if "PROFILE" in argv:
        from workloads import build_workload, synthetic_profile
        p = synthetic_profile(build_workload("tiny-digits", activation="relu"), 3).save(tmp_path / "p.npz")
        argv = [str(p) if a == "PROFILE" else a for a in argv]
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sqdm: error:") and match in err and "\n" not in err


def test_bad_hardware_yaml(tmp_path, capsys):
    from components import shipped_config_path
    text = shipped_config_path("sqdm").read_text().replace("bandwidth_gbytes_per_s: 102.4", "bandwidth_gbytes_per_s: -3")
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    assert main(["simulate", "--hw", str(p), "--workload", "tiny-digits"]) == 2
    err = capsys.readouterr().err
    assert "dram.bandwidth_gbytes_per_s" in err and str(p) in err


def test_set_overrides_hardware_fields(capsys):
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--steps", "3",
                 "--set", "detector.policy=oracle"]) == 0
    assert "label accuracy 100.0%" in capsys.readouterr().out
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--set", "dram.channels=0"]) == 2
    err = capsys.readouterr().err
    assert "dram.channels" in err and "with dram.channels=0" in err
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--set", "novalue"]) == 2
    assert "section.field=value" in capsys.readouterr().err
