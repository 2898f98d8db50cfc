"""Event traces: `sqdm run --trace` writes a Chrome/Perfetto trace-event file, checked against the format."""
from __future__ import annotations

import json

import numpy as np
import pytest

from des.cli import main
from des.trace import check_trace, trace_events

# The trace-event format (Chrome's "Trace Event Format" document, which Perfetto reads): a JSON object with
# a traceEvents array; "X" complete events need name, ph, ts, dur, pid, tid (ts, dur in microseconds);
# "C" counter events need name, ph, ts, pid and args of numeric series; "M" metadata events name processes
# and threads through args.name.
REQUIRED = {"X": {"name", "ph", "ts", "dur", "pid", "tid"}, "C": {"name", "ph", "ts", "pid", "args"},
            "M": {"name", "ph", "pid", "args"}}


def _assert_format(doc: dict) -> None:
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list) and doc["traceEvents"]
    for e in doc["traceEvents"]:
        assert e["ph"] in REQUIRED and REQUIRED[e["ph"]] <= set(e), e
        assert isinstance(e["pid"], int) and isinstance(e.get("tid", 0), int)
        if e["ph"] in ("X", "C"):
            assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0
        if e["ph"] == "X":
            assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0
        if e["ph"] == "C":
            assert all(isinstance(v, (int, float)) for v in e["args"].values())
        if e["ph"] == "M" and e["name"] in ("thread_name", "process_name"):
            assert isinstance(e["args"]["name"], str)
    assert doc.get("displayTimeUnit", "ms") in ("ms", "ns")


def test_trace_of_a_run(write_scenario, tmp_path, capsys):
    path = write_scenario(run={"steps": 3})
    out = tmp_path / "t.json"
    assert main(["run", str(path), "--store", str(tmp_path / "s.sqlite"), "--trace", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    _assert_format(doc)
    assert check_trace(doc) == len(doc["traceEvents"])
    ev = doc["traceEvents"]
    threads = {e["args"]["name"] for e in ev if e["name"] == "thread_name"}
    assert {"steps", "nodes", "dram", "global_buffer", "dense_cluster", "sparse_cluster"} <= threads
    steps = [e for e in ev if e["ph"] == "X" and e["tid"] == 1]
    assert len(steps) == 3
    clock = doc["otherData"]["clock_ghz"]
    total_us = doc["otherData"]["total_cycles"] / (clock * 1e3)
    assert steps[-1]["ts"] + steps[-1]["dur"] == pytest.approx(total_us, abs=1e-3)
    nodes = [e for e in ev if e["ph"] == "X" and e["tid"] == 2]
    assert nodes and {e["args"]["step"] for e in nodes} == {0, 1, 2}
    # node slices tile each step: their durations add up to the step's
    for s in steps:
        inside = [n["dur"] for n in nodes if n["args"]["step"] == s["args"]["step"]]
        assert sum(inside) == pytest.approx(s["dur"], rel=1e-3, abs=1e-3)
    counters = {e["name"] for e in ev if e["ph"] == "C"}
    assert {"DRAM bandwidth (GB/s)", "busy (%)"} <= counters
    busy = [e["args"] for e in ev if e["name"] == "busy (%)"]
    assert all(0 <= v <= 100.0001 for a in busy for v in a.values())


def test_check_trace_catches_faults():
    good = {"traceEvents": [{"name": "a", "ph": "X", "ts": 0, "dur": 2, "pid": 1, "tid": 1},
                            {"name": "b", "ph": "X", "ts": 0.5, "dur": 1, "pid": 1, "tid": 1}]}
    assert check_trace(good) == 2
    for bad, match in [
        ({"traceEvents": [{"name": "a", "ph": "X", "ts": 0, "pid": 1, "tid": 1}]}, "missing 'dur'"),
        ({"traceEvents": [{"name": "a", "ph": "X", "ts": -1, "dur": 1, "pid": 1, "tid": 1}]}, "ts=-1"),
        ({"traceEvents": [{"name": "a", "ph": "Q", "ts": 0, "pid": 1}]}, "phase"),
        ({"traceEvents": [{"name": "c", "ph": "C", "ts": 0, "pid": 1, "args": {"x": "high"}}]}, "numbers"),
        ({"traceEvents": [{"name": "a", "ph": "X", "ts": 0, "dur": 2, "pid": 1, "tid": 1},
                          {"name": "b", "ph": "X", "ts": 1, "dur": 2, "pid": 1, "tid": 1}]}, "overlaps"),
        ([], "traceEvents"),
    ]:
        with pytest.raises(ValueError, match=match):
            check_trace(bad)


def test_trace_caps_slices_and_marks_fast_forward():
    """A component with more intervals than the cap gets them merged across its shortest gaps (and says so);
    fast-forwarded spans become slices of their own track with the steady-state duty."""
    from types import SimpleNamespace
    n = 50
    starts = np.arange(n, dtype=float) * 10
    rep = SimpleNamespace(
        model="m", hardware="h", policy="p", steps=1, clock_ghz=1.0, total_cycles=1000.0, cycles_per_step=[1000.0],
        node_ids=["a", "b"], node_cycles=np.array([[600.0], [400.0]]), node_dram_moved_bytes=np.array([[6e3], [0.0]]),
        node_executed_macs=None, node_array_utilization=None,
        interval_data={"start_cycles": starts, "end_cycles": starts + 5, "component": np.array(["dram"] * n, dtype=object),
                       "step_end_cycles": [1000.0], "duty": [(600.0, 1000.0, {"dense_cluster": 0.5})]})
    doc = trace_events(rep, max_slices=10, bins=20)
    check_trace(doc)
    ev = doc["traceEvents"]
    names = {e["args"]["name"] for e in ev if e["name"] == "thread_name"}
    assert "dram (intervals merged to fit)" in names and "dense_cluster (fast-forwarded)" in names
    assert sum(1 for e in ev if e["ph"] == "X" and e["name"] == "dram") == 10
    bw = [e["args"]["GB/s"] for e in ev if e["name"] == "DRAM bandwidth (GB/s)"]
    assert bw[0] == pytest.approx(10.0)  # 6000 B over 600 cycles at 1 GHz
    busy = [e["args"] for e in ev if e["name"] == "busy (%)"]
    assert busy[-1]["dense_cluster"] == pytest.approx(50.0) and busy[0]["dram"] == pytest.approx(50.0)


def test_trace_needs_one_point(write_scenario, tmp_path, capsys):
    path = write_scenario(sweep={"grid": {"run.seed": [1, 2]}})
    assert main(["run", str(path), "--trace", str(tmp_path / "t.json")]) == 2
    assert "needs a one-point scenario" in capsys.readouterr().err


def test_simulate_writes_a_trace(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--steps", "2", "--trace", str(out)]) == 0
    doc = json.loads(out.read_text())
    _assert_format(doc)
    check_trace(doc)
    assert f"wrote {out}" in capsys.readouterr().out
