"""Steps shared by several processes (des.parallel): the merged report is one process's, field by field."""
import json

import numpy as np
import pytest

import des.parallel as parallel
from components import load_shipped_config
from des import simulate
from des.cli import main
from des.engine import SimulationError
from des_helpers import graph, profile


def _fields(r) -> dict:
    d = r.to_dict()
    for k in ("wall_seconds", "events"):  # the only fields that may differ
        d.pop(k, None)
    return {k: json.dumps(v, sort_keys=True) for k, v in d.items()}


def _intervals(r) -> str:
    iv = r.interval_data
    return json.dumps({k: (np.asarray(v).tolist() if k != "duty" else repr(v)) for k, v in iv.items()},
                      sort_keys=True)


@pytest.fixture
def short_ranges(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_RANGE_STEPS", 1)  # ranges of any length, to test the boundaries


def _hw(**detector):
    hw = load_shipped_config("sqdm")
    return hw.model_copy(update={"detector": hw.detector.model_copy(update=detector)}) if detector else hw


@pytest.mark.parametrize("detector,steps,jobs", [
    # per-step labels; ranges from steps 4; 2 and 5; 1 and 2 (a warm-up on the first evaluation, or not)
    ({}, 7, 2), ({}, 7, 3), ({}, 3, 3),
    # ranges (4, 8) and (8, 12): their labels come from the updates at steps 0 and 4, before their warm-up
    ({"policy": "every_k", "k": 4}, 12, 3),
    ({"policy": "static"}, 7, 2), ({"policy": "oracle"}, 7, 2), ({"placement": "threshold"}, 7, 2)])
def test_ranges_in_processes_equal_one_process(short_ranges, detector, steps, jobs):
    g, hw, prof = graph("tiny-digits", "sqdm"), _hw(**detector), profile("tiny-digits", steps)
    one = simulate(g, hw, steps=steps, profile=prof, progress=False, keep_intervals=True)
    many = simulate(g, hw, steps=steps, profile=prof, progress=False, keep_intervals=True, jobs=jobs)
    assert _fields(many) == _fields(one)  # cycles per node and step, counters, energy, timelines ...
    assert _intervals(many) == _intervals(one)  # ... and every busy interval, to the bit
    assert many.events > one.events  # the later ranges' warm-up step and first step-independent nodes


def test_ranges_on_a_zoo_unet_equal_one_process(short_ranges):
    """Here the counters are sums of inexact binary fractions: they equal one process's only when each range
    adds them up as the whole loop does (its warm-up makes it replay the same segments; the parent adds each
    range's log again)."""
    from des.run import RunSpec, resolve_run
    g, hw, prof, steps = resolve_run(RunSpec(hw="sqdm", workload="ddpm-cifar10", steps=10))  # the shipped policy
    one = simulate(g, hw, steps=steps, profile=prof, progress=False)
    assert _fields(simulate(g, hw, steps=steps, profile=prof, progress=False, jobs=2)) == _fields(one)


def test_step_ranges_cover_the_loop_in_order():
    for steps in (1, 7, 8, 15, 16, 17, 100):
        for jobs in (1, 2, 3, 16):
            r = parallel.step_ranges(steps, jobs)
            assert r[0][0] == 0 and r[-1][1] == steps and all(a[1] == b[0] for a, b in zip(r, r[1:]))
            assert len(r) <= jobs and (len(r) == 1 or min(b - a for a, b in r) >= parallel.MIN_RANGE_STEPS)
            assert max(b - a for a, b in r) - min(b - a for a, b in r) <= 1
    assert parallel.step_ranges(100, 2) == [(0, 50), (50, 100)] and parallel.step_ranges(15, 2) == [(0, 15)]


def test_a_run_without_per_step_work_stays_in_one_process(short_ranges):
    g = graph("tiny-digits", "int4")
    hw = load_shipped_config("int4-dense")
    r = simulate(g, hw, steps=6, progress=False, jobs=3)
    assert r.events == simulate(g, hw, steps=6, progress=False).events  # no warm-up step was run


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_jobs_must_be_a_positive_integer(jobs):
    with pytest.raises(SimulationError, match="jobs="):
        simulate(graph("tiny-digits", "sqdm"), _hw(), steps=2, profile=profile("tiny-digits", 2), jobs=jobs)


def test_detector_resumes_only_from_an_update_its_policy_takes():
    from components import SparsityDetector
    det = SparsityDetector(None, _hw(policy="every_k", k=4).detector)
    det.assume_update("r", 8, np.full(3, 0.5))
    assert det.labels("r", 9, channels=3).all()
    with pytest.raises(ValueError, match="no update at step 9"):
        det.assume_update("r", 9, np.full(3, 0.5))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        det.assume_update("r", 8, np.array([0.5, np.nan, 0.1]))


def test_cli_jobs_give_the_same_report(tmp_path, capsys, short_ranges):
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"r{jobs}.json"
        assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--steps", "5", "--jobs", jobs,
                     "--out", str(out)]) == 0
        d = json.loads(out.read_text())
        for k in ("wall_seconds", "events"):
            d.pop(k, None)
        outs.append(d)
    assert outs[0] == outs[1]
    capsys.readouterr()
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--jobs", "0"]) == 2
    assert "--jobs: 0 is outside" in capsys.readouterr().err


def test_a_later_range_adds_its_counters_as_the_whole_loop_does(short_ranges, monkeypatch):
    """The mechanism behind the equal totals: the last range's log of additions is the tail of one process's,
    entry for entry (without its warm-up step it would add its step-independent nodes one by one, not as the
    replayed segments the whole loop adds by then)."""
    from des.engine import ReportAccumulator, SamplingLoop
    logs = []
    run_range, merge = SamplingLoop.run_range, ReportAccumulator.merge
    monkeypatch.setattr(SamplingLoop, "run_range",
                        lambda self, first, stop, bar=None, log=False: run_range(self, first, stop, bar, log=True))
    monkeypatch.setattr(ReportAccumulator, "merge",
                        lambda self, part, *a: (logs.append(part.log), merge(self, part, *a))[1])
    g, hw, prof = graph("tiny-digits", "sqdm"), _hw(), profile("tiny-digits", 7)
    whole = []
    build = ReportAccumulator.__init__
    monkeypatch.setattr(ReportAccumulator, "__init__",
                        lambda self, *a, **k: (build(self, *a, **k), whole.append(self))[0])
    simulate(g, hw, steps=7, profile=prof, progress=False)
    serial_log = whole[0].log
    simulate(g, hw, steps=7, profile=prof, progress=False, jobs=2)
    assert len(logs) == 2 and logs[0] + logs[1] == serial_log and len(logs[1]) < len(serial_log)


def _failing_range(exc):
    from des.engine import SamplingLoop
    run_range = SamplingLoop.run_range

    def run(self, first, stop, bar=None, log=False):
        if first > 0:
            exc()
        return run_range(self, first, stop, bar, log)
    return run


def test_a_worker_error_is_raised_in_the_parent(short_ranges, monkeypatch):
    from des.engine import SamplingLoop

    def boom():
        raise SimulationError("node 'x': boom")
    monkeypatch.setattr(SamplingLoop, "run_range", _failing_range(boom))
    with pytest.raises(SimulationError, match="node 'x': boom"):
        simulate(graph("tiny-digits", "sqdm"), _hw(), steps=4, profile=profile("tiny-digits", 4), jobs=2)


def test_a_worker_that_dies_is_an_error_not_a_hang(short_ranges, monkeypatch):
    import os
    from des.engine import SamplingLoop
    monkeypatch.setattr(SamplingLoop, "run_range", _failing_range(lambda: os._exit(3)))
    with pytest.raises(SimulationError, match=r"steps 2\.\.3 ended without a result \(exit code 3"):
        simulate(graph("tiny-digits", "sqdm"), _hw(), steps=4, profile=profile("tiny-digits", 4), jobs=2)


class _Unreadable(Exception):
    """Pickles, but does not unpickle (its __init__ wants two arguments)."""

    def __init__(self, a, b):
        super().__init__(f"{a} {b}")


def test_a_worker_result_that_does_not_unpickle_is_one_error(short_ranges, monkeypatch):
    from des.engine import SamplingLoop

    def boom():
        raise _Unreadable("x", "y")
    monkeypatch.setattr(SamplingLoop, "run_range", _failing_range(boom))
    with pytest.raises(SimulationError, match=r"steps 2\.\.3: unreadable result"):
        simulate(graph("tiny-digits", "sqdm"), _hw(), steps=4, profile=profile("tiny-digits", 4), jobs=2)
