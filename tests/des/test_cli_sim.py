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
    (["--hw", "sqdm", "--workload", "tiny-digits", "--steps", "0"], "--steps: 0 is outside"),
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


# -- defaults: the synthetic profile's from workloads/data/synthetic_profile.yaml, the run's from des/defaults.yaml
def _api(model: str, steps: int):
    from components import load_shipped_config
    from quant.policy import apply_policy
    from workloads import build_workload, synthetic_profile
    g = apply_policy(build_workload(model, activation="relu"), "sqdm")  # as in the README's Python example
    return g, load_shipped_config("sqdm"), synthetic_profile(g, steps)


def test_cli_default_run_equals_the_python_api(tmp_path):
    """`sqdm simulate` with no options = the README's Python example: same profile bit for bit, same cycles."""
    import numpy as np

    from des import simulate
    from des.run import RunSpec, resolve_run, run_defaults
    steps = run_defaults()["steps"]
    assert steps >= 10  # the detector needs steps to act
    g, hw, api_prof = _api("tiny-digits", steps)
    _, _, cli_prof, cli_steps = resolve_run(RunSpec(hw="sqdm", workload="tiny-digits"))
    assert cli_steps == steps and cli_prof.node_ids == api_prof.node_ids and cli_prof.info == api_prof.info
    for n in api_prof.node_ids:
        assert np.array_equal(cli_prof.zero_fraction[n], api_prof.zero_fraction[n])
    out = tmp_path / "r.json"
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["steps"] == steps and d["profile_kind"] == "synthetic"
    assert d["total_cycles"] == simulate(g, hw, steps=steps, profile=api_prof, progress=False).total_cycles
    assert d["macs"]["sparse_executed_macs"] > 0 and d["macs"]["skipped_macs"] > 0  # the sparse cluster works
    assert d["detector"]["label_accuracy"] > 0.5


def test_steps_help_states_the_default(capsys):
    from des.run import run_defaults
    try:
        status = main(["simulate", "--help"])
    except SystemExit as e:  # argparse's help exits
        status = e.code
    assert status in (0, None)
    assert f"default {run_defaults()['steps']} (des/defaults.yaml)" in " ".join(capsys.readouterr().out.split())


def test_label_accuracy_does_not_depend_on_run_length():
    """The drift is per step: the first 10 steps of a 50-step run simulate exactly as the 10-step run, and the
    label accuracy after step 0 (whose labels are the detector's initial ones: no counts yet) is the same at
    10 and 50 steps within 3 points. (tiny-digits for speed; ddpm-cifar10 gives the same picture.)"""
    from des import simulate
    runs = {}
    for k in (1, 10, 50):
        g, hw, prof = _api("tiny-digits", k)
        runs[k] = simulate(g, hw, steps=k, profile=prof, progress=False)
    assert runs[50].cycles_per_step[:10] == runs[10].cycles_per_step

    def after_step0(k: int) -> float:  # step 0 of every run is the 1-step run (prefix property)
        d, d0 = runs[k].detector, runs[1].detector
        return 1 - (d["wrong_labels"] - d0["wrong_labels"]) / (d["labels_used"] - d0["labels_used"])
    assert after_step0(10) == pytest.approx(after_step0(50), abs=0.03)
    assert after_step0(10) > 0.85
