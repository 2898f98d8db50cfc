"""Sweeps: results equal des.run.run's, the same through the process pool and dask, failures recorded,
resuming skips finished points, the store loads as a DataFrame."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from des.run import run
from des.scenario import load_scenario
from des.store import ResultsStore, StoreError, load_results
from des.sweep import point_metrics, run_points, sweep

# metrics that measure the host, not the simulated machine
HOST = {"wall_seconds", "cpu_seconds", "point_wall_seconds", "worker", "finished_utc", "versions"}


def _results(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in df.columns if c in HOST]).sort_values("hash").reset_index(drop=True)


def test_point_equals_des_run(write_scenario):
    """The worker's cached resolution (graph and profile shared between points) changes no result."""
    path = write_scenario(run={"steps": 2, "seed": 5}, sweep={"grid": {
        "hardware.dram.bandwidth_gbytes_per_s": [25.6, 204.8], "run.synthetic_mean": [0.3, 0.7]}})
    pts = load_scenario(path).points()
    zoo = write_scenario(name="zoo", run={"workload": "tiny-digits", "policy": "sqdm-all4", "steps": 1})
    pts += load_scenario(zoo).points()  # a zoo model: built with its policy through des.run
    df = run_points(pts, workers=0)
    for p, (_, row) in zip(pts, df.iterrows()):
        ref = point_metrics(run(p.spec, progress=False))
        for k, v in ref.items():
            if k not in ("wall_seconds", "cpu_seconds"):
                assert row[k] == v, (p.label(), k)


def test_store_resume_failures_and_dataframe(write_scenario, tmp_path):
    path = write_scenario(sweep={"grid": {"hardware.global_buffer.capacity_bytes": [1048576, 64],
                                          "run.batch": [1, 2]}})
    store = tmp_path / "r.sqlite"
    df = sweep(path, store, workers=0)
    assert len(df) == 4 and list(df["index"]) == [0, 1, 2, 3]
    bad = df[df["hardware.global_buffer.capacity_bytes"] == 64]
    assert (bad["status"] == "failed").all() and bad["error"].str.contains("Error").all()
    assert bad["seconds"].isna().all()
    good = df[df["status"] == "ok"]
    assert len(good) == 2 and (good["seconds"] > 0).all() and (good["area_mm2"] > 2).all()
    for col in ("total_cycles", "energy_pj", "utilization.dense_cluster", "dram_moved_bytes", "macs_skipped",
                "detector_label_accuracy", "multipliers.sparse_cluster", "seed", "hash"):
        assert col in df.columns
    assert set(df["versions"].iloc[0]) >= {"sqdm-sim", "simpy", "numpy", "python"}
    # rerun: nothing runs again (failed points included); retry_failed runs the two failed ones
    with ResultsStore(store) as st:
        from des.sweep import execute
        pts = load_scenario(path).points()
        out = execute(pts, st, workers=0)
        assert (out.ran, out.skipped) == (0, 4)
        out = execute(pts, st, workers=0, retry_failed=True)
        assert (out.ran, out.failed, out.skipped) == (2, 2, 2)
        assert st.count("t") == 4
    again = load_results(store, "t")
    assert _results(again).equals(_results(df))


def test_pool_matches_inline(write_scenario, tmp_path):
    path = write_scenario(run={"steps": 2}, sweep={"grid": {"hardware.dram.bandwidth_gbytes_per_s": [25.6, 51.2, 102.4],
                                                            "hardware.detector.threshold": [0.2, 0.5]}})
    inline = sweep(path, workers=0)
    pool = sweep(path, tmp_path / "p.sqlite", workers=2)
    assert pool["worker"].nunique() >= 1 and (pool["status"] == "ok").all()
    assert _results(pool).equals(_results(inline))


def test_hundred_points_pool_and_dask_identical(write_scenario, tmp_path):
    """The issue's check: a 100-point sweep gives identical results through the default process pool and
    through dask.distributed (an in-process cluster here; `sqdm run --dask local` starts a LocalCluster)."""
    distributed = pytest.importorskip("distributed")
    path = write_scenario(sweep=[{"grid": {"hardware.dram.bandwidth_gbytes_per_s": [12.8, 25.6, 51.2, 102.4, 204.8]}},
                                 {"grid": {"hardware.detector.threshold": [0.1, 0.2, 0.3, 0.4, 0.5],
                                           "run.synthetic_mean": [0.3, 0.5, 0.6, 0.8]}}])
    pts = load_scenario(path).points()
    assert len(pts) == 100
    pool = run_points(pts, tmp_path / "pool.sqlite", workers=2)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        via_dask = run_points(pts, tmp_path / "dask.sqlite", dask=client)
    assert len(pool) == len(via_dask) == 100 and (pool["status"] == "ok").all()
    a, b = _results(pool), _results(via_dask)
    assert a.equals(b)
    assert len(np.unique(a["total_cycles"])) > 10  # the points do differ


def test_worker_crash_is_retried_then_recorded(write_scenario, tmp_path, monkeypatch):
    """A worker process that dies takes its points with it: they are retried once on a new pool."""
    from des import sweep as S
    path = write_scenario(sweep={"grid": {"run.seed": [1, 2, 3]}})
    pts = load_scenario(path).points()

    class Flaky(S._InlineBackend):
        calls = 0

        def submit(self, point):
            from concurrent.futures import Future
            from concurrent.futures.process import BrokenProcessPool
            Flaky.calls += 1
            if point.index == 1:  # this point always kills its worker
                f = Future()
                f.set_exception(BrokenProcessPool("worker died"))
                return f
            return super().submit(point)

        @staticmethod
        def broke(exc):
            return S._PoolBackend.broke(exc)

    monkeypatch.setattr(S, "_InlineBackend", Flaky)
    with ResultsStore(tmp_path / "c.sqlite") as st:
        out = S.execute(pts, st, workers=0)
        recs = {r["index"]: r for r in st.records("t")}
    assert (out.ok, out.failed) == (2, 1)
    assert recs[1]["status"] == "failed" and "died" in recs[1]["error"]


def test_fast_hardware_loading_matches_load_hardware(tmp_path):
    """Points after the first of a base file skip re-reading it; the config is the same as load_hardware's."""
    from des.run import load_hardware
    from des.scenario import _load_hardware
    for overrides in [(), ("dram.bandwidth_gbytes_per_s=51.2", 'detector.policy="every_k"', "detector.k=3"),
                      ('sizing={"iso_area_with": "sqdm", "resize": "dense_cluster", "multiplier_granularity": 16, '
                       '"max_area_error_fraction": 0.02}', "dense_cluster.multipliers=null",
                       "sparse_cluster.multipliers=512")]:
        for _ in range(2):  # the second call takes the cached path
            a = _load_hardware("sqdm", overrides, load_hardware)
            assert a.model_dump() == load_hardware("sqdm", overrides).model_dump()
    with pytest.raises(ValueError, match="not a section"):
        _load_hardware("sqdm", ("clock_ghz.x=1",), load_hardware)


def test_store_refuses_other_files(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="not a readable sqdm results store|not an sqdm"):
        ResultsStore(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(StoreError):
        load_results(other)
    with pytest.raises(StoreError, match="not found"):
        load_results(tmp_path / "missing.sqlite")
