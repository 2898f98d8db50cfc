"""Fuzz: command lines. Random option lists for every ``sqdm`` command, built from valid values, values out of
their bounds, wrong types and hostile paths (folders, FIFOs, symbolic links, /dev/zero, empty names, unknown
suffixes). Each must end in status 0 (``simulate``: with a report keeping the invariants), or status 2 with
one ``sqdm: error:`` line. The expensive pipeline commands (profile, sensitivity, quality, train-digits) get at
least one bad value and must then fail within seconds: every check runs before the computation.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzlib import fresh, run_and_check, workspace
from strategies import MACHINES, finite_or_not, steps_values

CI = settings(max_examples=35, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _special(name: str) -> str:
    ws = workspace()["dir"]
    return {"dir": str(ws / "adir"), "fifo": str(ws / "fifo"), "link": str(ws / "link.json"),
            "file": str(ws / "file.txt"), "base": str(ws / "base.json"), "td": str(ws / "td.json"),
            "profile": str(ws / "base.profile.npz")}.get(name, name)


BAD_INPUT_PATHS = ["dir", "fifo", "link", "file", "/dev/zero", "", "nope.json", "/nonexistent/x.yaml", "a\x01b.json",
                   "x" * 5000 + ".json", "/"]


@st.composite
def output_path(draw, suffixes=(".json",)):
    """A fresh writable path (mostly) or a hostile one."""
    kind = draw(st.sampled_from(["fresh"] * 5 + ["nested", "nosuffix", "badsuffix", "dir", "fifo", "link", "empty",
                                                 "long", "slash", "file"]))
    if kind == "fresh":
        return str(fresh(draw(st.sampled_from(suffixes))))
    if kind == "nested":
        return str(fresh("") / "sub" / f"r{draw(st.sampled_from(suffixes))}")
    if kind == "nosuffix":
        return str(fresh(""))
    if kind == "badsuffix":
        return str(fresh(".xyz"))
    if kind == "long":
        return str(fresh("x" * 300 + ".json"))
    if kind == "slash":
        return str(fresh("")) + "/"
    if kind == "file":
        return str(workspace()["dir"] / "file.txt") + ".copy"
    return {"dir": _special("dir"), "fifo": _special("fifo"), "link": _special("link"), "empty": ""}[kind]


@st.composite
def simulate_argv(draw):
    ws = workspace()
    argv = ["simulate"]
    if draw(st.integers(0, 9)):
        argv += ["--hw", draw(st.sampled_from(MACHINES * 3 + ["nope", "x.yaml"] + BAD_INPUT_PATHS[:5]))]
    wl = draw(st.sampled_from(["base"] * 12 + ["td"] * 3 + ["tiny-digits", "nope"] + BAD_INPUT_PATHS))
    if draw(st.integers(0, 9)):
        argv += ["--workload", _special(wl)]
    opts = {
        "--steps": steps_values(),
        "--batch": st.sampled_from(["1", "2", "0", "-3", "4097", "x", "1.5"]),
        "--resolution": st.sampled_from(["8", "16", "7", "0", "4097", "x"]),
        "--seed": st.sampled_from(["0", "7", "-1", "4294967296", "x", "4294967295"]),
        "--synthetic-mean": finite_or_not(),
        "--policy": st.sampled_from(["sqdm", "int4", "fp16", "sqdm-all4", "nope"] + BAD_INPUT_PATHS[:6]).map(_special),
        "--profile": st.sampled_from(["profile", "profile", "file", "dir", "fifo", "/dev/zero", "nope.npz", ""]).map(
            _special),
        "--set": st.sampled_from(["detector.policy=oracle", "dram.channels=0", "vector_unit.ops_per_element={}",
                                  "novalue", "global_buffer.capacity_bytes=64", "dram.bandwidth_gbytes_per_s=1e-300",
                                  "clock_ghz=1e300", "x=[[[[[[[[", "fusion.relu_quant_zero_count_fused=false",
                                  "residency.weight_budget_fraction=0"]),
        "--activation": st.sampled_from(["relu", "silu", "gelu"]),
        "--jobs": st.sampled_from(["1", "2", "3", "0", "257", "x", "-1", "1.5"]),
        "--out": output_path((".json",)),
        "--plot": output_path((".png", ".svg", ".pdf")),
    }
    for opt in draw(st.lists(st.sampled_from(sorted(opts)), max_size=5, unique=True)):
        argv += [opt, draw(opts[opt])]
    if draw(st.booleans()):
        argv.append("--cfg")
    if not draw(st.integers(0, 14)):
        argv.insert(draw(st.integers(1, len(argv))), draw(st.sampled_from(["--nope", "-x", "--steps", "--", "extra"])))
    report = None
    if "--out" not in argv:
        report = fresh(".json")
        argv += ["--out", str(report)]
    elif argv[argv.index("--out") + 1] and argv[argv.index("--out") + 1].endswith(".json"):
        from pathlib import Path
        report = Path(argv[argv.index("--out") + 1])
    return argv, report


def _simulate_argv(data):
    argv, report = data.draw(simulate_argv())
    run_and_check(argv, report=report)


test_simulate_argv = CI(given(st.data())(_simulate_argv))
test_simulate_argv_long = pytest.mark.slow(LONG(given(st.data())(_simulate_argv)))


# -- the pipeline commands: one bad value at least, refused before any computation ---------------------
BAD_VALUES = {
    "profile": {"--steps": ["0", "1001", "x"], "--samples": ["0", "65537", "-1"], "--seed": ["-1", "x"],
                "--tile": ["0", "4097"], "--out": ["", "dir", "fifo", "link"],
                "--heatmap": ["x.xyz", "dir", "", "x.jpg"],
                "--include": ["*" * 40]},
    "sensitivity": {"--steps": ["0", "1001"], "--trajectories": ["0", "4097", "x"], "--out": ["", "dir", "fifo"],
                    "--policy": ["nope", "fifo", "/dev/zero"]},
    "quality": {"--samples": ["1", "0", "65537"], "--seeds": ["0", "101"], "--steps": ["0", "1001"],
                "--out": ["", "dir", "fifo", "link"], "--markdown": ["dir", "fifo"]},
    "train-digits": {"--steps": ["0", "-5", "1000001"], "--batch": ["0", "65537"], "--shift": ["nan", "-1", "11"],
                     "--seed": ["-1"], "--out": ["file", "fifo", "/dev/zero/x"]},
}
GOOD_VALUES = {
    "profile": {"--steps": ["2"], "--samples": ["4"], "--seed": ["0"], "--tile": ["8"], "--include": ["*:conv2d"]},
    "sensitivity": {"--steps": ["2"], "--trajectories": ["2"], "--policy": ["sqdm-all4"]},
    "quality": {"--samples": ["4"], "--seeds": ["1"], "--steps": ["2"]},
    "train-digits": {"--steps": ["1"], "--batch": ["4"], "--seed": ["0"]},
}


@st.composite
def pipeline_argv(draw):
    cmd = draw(st.sampled_from(sorted(BAD_VALUES)))
    bad_opt = draw(st.sampled_from(sorted(BAD_VALUES[cmd])))
    argv = [cmd, bad_opt, _special(draw(st.sampled_from(BAD_VALUES[cmd][bad_opt])))]
    for opt, values in GOOD_VALUES[cmd].items():
        if opt != bad_opt and draw(st.booleans()):
            argv += [opt, draw(st.sampled_from(values))]
    if "--out" not in argv and cmd != "train-digits":
        argv += ["--out", str(fresh(".csv" if cmd != "profile" else ".npz"))]
    return argv


def _pipeline_argv(data):
    argv = data.draw(pipeline_argv())
    o = run_and_check(argv, time_limit_s=10.0)
    assert o.kind == "error", f"{argv!r} should be refused before any computation: {o.kind} {o.stderr[-300:]}"


test_pipeline_argv = CI(given(st.data())(_pipeline_argv))
test_pipeline_argv_long = pytest.mark.slow(settings(LONG, max_examples=1000)(given(st.data())(_pipeline_argv)))


# -- graph / quantize / models / no command ----------------------------------------------------------------
@st.composite
def other_argv(draw):
    cmd = draw(st.sampled_from(["graph", "quantize", "models", "nope", ""]))
    if cmd == "graph":
        argv = ["graph", draw(st.sampled_from(["tiny-digits", "tiny-digits", "nope", ""]))]
        opts = {"--resolution": ["8", "16", "7", "0", "4097"], "--batch": ["1", "2", "0", "4097"],
                "--activation": ["relu", "silu", "x"], "--out": ["fresh", "", "dir", "fifo", "link", "x/"]}
    elif cmd == "quantize":
        argv = ["quantize"]
        opts = {"--policy": ["sqdm", "int4", "nope", "fifo", "/dev/zero"], "--model": ["tiny-digits", "nope"],
                "--activation": ["relu", "silu"], "--out": ["fresh", "", "dir", "fifo", "link"]}
    else:
        argv = [cmd] if cmd else []
        opts = {"--help": [None], "--nope": ["1"]}
    for opt in draw(st.lists(st.sampled_from(sorted(opts)), max_size=3, unique=True)):
        v = draw(st.sampled_from(opts[opt]))
        argv += [opt] if v is None else [opt, str(fresh(".json")) if v == "fresh" else _special(v)]
    if cmd in ("graph", "quantize") and "--out" not in argv:
        argv += ["--out", str(fresh(".json"))]
    return argv


def _other_argv(data):
    run_and_check(data.draw(other_argv()))


test_other_argv = settings(CI, max_examples=10)(given(st.data())(_other_argv))
test_other_argv_long = pytest.mark.slow(settings(LONG, max_examples=300)(given(st.data())(_other_argv)))
