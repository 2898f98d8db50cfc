"""Running scenario points: a local process pool (default) or a dask.distributed cluster, into a results store.

Public API::

    from des.sweep import sweep, run_points, load_results
    df = sweep("scenarios/dram_batch.yaml", store="results.sqlite", workers=2)   # a pandas DataFrame

* **Workers** run :func:`execute_point` on one :class:`des.scenario.Point` at a time and return a small
  record (status, metrics, error, package versions); they never touch the store. Each worker process keeps
  the prepared inputs of the points it ran (:func:`resolve_point`: the policy-annotated workload graph, keyed
  by the fields that shape it, and the synthetic profile, keyed by the graph and its own fields), so a graph
  is built once per worker, not once per point.
* **The parent** submits at most ``2 x workers`` points at a time, commits every finished point to the
  store in its own transaction (:mod:`des.store`) and shows a progress bar with ETA on a terminal. A point
  whose simulation raises is stored as ``failed`` with its error, and the sweep goes on. A worker process
  that dies (killed, out of memory) takes its points in flight with it: the pool is restarted and they are
  retried once; a point in flight at two such deaths is stored as failed.
* **Resuming**: points already in the store (same scenario, same config hash) are skipped, so killing the
  run at any moment loses at most the points in flight; ``retry_failed=True`` runs failed ones again.
* **Pools**: local processes come from a ``forkserver`` that has imported the simulator (and torch) once,
  so a worker starts in milliseconds; ``dask="local"`` starts a ``distributed.LocalCluster`` with one
  single-threaded worker process per worker; ``dask="tcp://host:8786"`` uses a running scheduler (its
  workers need this package installed); a ``distributed.Client`` may be passed as well. Results do not
  depend on the pool: each point is a pure function of its description.
"""
from __future__ import annotations

import os
import platform
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional, Sequence

from .scenario import Point, Scenario, load_scenario  # light: des.run (and the simulator) is imported on use

__all__ = ["sweep", "run_points", "load_results", "execute_point", "resolve_point", "point_metrics",
           "package_versions", "SweepError", "SweepOutcome", "default_store_path", "METRIC_UNITS"]


class SweepError(ValueError):
    """A sweep that cannot be started as asked (a bad worker count, an unreachable dask scheduler, ...)."""


METRIC_UNITS = {
    "total_cycles": "cycles", "seconds": "s", "energy_pj": "pJ", "energy_dynamic_pj": "pJ",
    "energy_static_pj": "pJ", "area_mm2": "mm2", "seconds_per_image": "s", "energy_pj_per_image": "pJ",
    "images_per_second": "1/s", "dram_read_bytes": "B", "dram_write_bytes": "B", "dram_moved_bytes": "B",
    "macs_graph": "MACs", "macs_dense_executed": "MACs", "macs_sparse_executed": "MACs", "macs_skipped": "MACs",
    "detector_label_accuracy": "fraction", "detector_wrong_labels": "labels", "wall_seconds": "s (host)",
    "cpu_seconds": "s (host)",
}
"""Units of the metrics of :func:`point_metrics` (``utilization.*`` and ``array_utilization.*`` are
fractions, ``area_mm2.*`` mm2, ``multipliers.*`` counts)."""


# -- what a worker does ----------------------------------------------------------------------------------
def package_versions() -> dict[str, str]:
    """Versions of what computes a point: sqdm-sim, simpy, numpy, networkx, pydantic, torch (if imported), Python."""
    return dict(_versions("torch" in sys.modules))


@lru_cache(maxsize=2)
def _versions(torch: bool) -> tuple:
    from importlib import metadata
    out = {}
    for dist in ("sqdm-sim", "simpy", "numpy", "networkx", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if "torch" in sys.modules:
        out["torch"] = str(getattr(sys.modules["torch"], "__version__", "?"))
    out["python"] = platform.python_version()
    return tuple(out.items())


@lru_cache(maxsize=8)
def _raw_graph(workload: str, stamp: tuple, resolution, batch: int, cfg: bool, activation):
    """A workload file's graph as it is (``stamp``: its mtime and size, so an edited file is read again)."""
    from .run import RunSpec, _workload
    return _workload(RunSpec(hw="", workload=workload, resolution=resolution, batch=batch, cfg=cfg,
                             activation=activation))


@lru_cache(maxsize=8)
def _annotated_graph(graph_key: tuple, policy: Optional[str]):
    """The graph of ``graph_key`` annotated with ``policy``: a zoo model through ``des.run._workload`` (and
    its prepared-graph cache), a file with ``quant.apply_policy``."""
    from workloads import ZOO
    workload, stamp, resolution, batch, cfg, activation = graph_key
    if workload in ZOO:
        from .run import RunSpec, _workload
        return _workload(RunSpec(hw="", workload=workload, resolution=resolution, batch=batch, cfg=cfg,
                                 activation=activation), policy)
    g = _raw_graph(*graph_key)
    if policy is None:
        return g
    from quant.policy import apply_policy
    return apply_policy(g, policy)


@lru_cache(maxsize=8)
def _synthetic(graph_key: tuple, policy: Optional[str], steps: int, mean, seed):
    from workloads import synthetic_profile
    return synthetic_profile(_annotated_graph(graph_key, policy), steps, mean=mean, seed=seed)


def _file_stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return ()


def resolve_point(spec, hw=None):
    """``des.run.resolve_run(spec)`` with this process's caches: (annotated graph, hardware, profile or None,
    steps). The graph and the synthetic profile are shared between points that agree on what shapes them
    (the simulator does not modify either); ``hw``: the point's hardware, already validated (else it is
    loaded from ``spec.hw`` and ``spec.overrides``). Tests check the results equal ``des.run.run``'s."""
    from workloads import ZOO, eligible_nodes
    from workloads.profile_file import read_profile
    from .checks import check_run_inputs
    from .run import load_hardware, run_defaults
    if hw is None:
        hw = load_hardware(spec.hw, spec.overrides)
    stamp = () if spec.workload in ZOO else _file_stamp(spec.workload)
    key = (spec.workload, stamp, spec.resolution, spec.batch, spec.cfg, spec.activation or run_defaults()["activation"])
    zoo = spec.workload in ZOO  # a zoo graph has no precision of its own: it is built with its policy
    policy = spec.policy
    if policy is None and (zoo or "precision" not in _raw_graph(*key).graph):
        policy = hw.default_policy or None
        if policy is None:
            from .engine import SimulationError
            raise SimulationError(f"hardware '{hw.name}' names no default_policy and the workload has none: "
                                  "give run.policy")
    g = _annotated_graph(key, policy)
    steps = spec.steps if spec.steps is not None else int(run_defaults()["steps"])
    check_run_inputs(g, hw, steps)
    profile = None
    if spec.profile is not None:
        profile = read_profile(spec.profile)
    elif hw.sparse_cluster is not None and eligible_nodes(g):
        profile = _synthetic(key, policy, steps, spec.synthetic_mean, spec.seed)
    return g, hw, profile, steps


def point_metrics(report, hw=None) -> dict[str, Any]:
    """The metrics stored per point (units: :data:`METRIC_UNITS`) from a :class:`des.report.Report`."""
    r = report
    m: dict[str, Any] = {
        "model": r.model, "hardware": r.hardware, "policy": r.policy, "profile_kind": r.profile_kind,
        "evaluations": r.steps, "batch": r.batch,
        "total_cycles": float(r.total_cycles), "seconds": float(r.seconds), "energy_pj": float(r.energy_pj),
        "energy_dynamic_pj": float(sum(r.energy_dynamic_pj.values())),
        "energy_static_pj": float(sum(r.energy_static_pj.values())),
        "area_mm2": float(sum(r.area_mm2.values())),
    }
    m["seconds_per_image"] = m["seconds"] / max(r.batch, 1)
    m["energy_pj_per_image"] = m["energy_pj"] / max(r.batch, 1)
    m["images_per_second"] = r.batch / m["seconds"] if m["seconds"] > 0 else float("nan")
    for comp, v in sorted(r.area_mm2.items()):
        m[f"area_mm2.{comp}"] = float(v)
    if hw is not None:
        for name, cl in hw.clusters().items():
            m[f"multipliers.{name}"] = int(cl.multipliers)
    for comp, v in sorted(r.utilization.items()):
        m[f"utilization.{comp}"] = float(v)
    for c in ("dense_cluster", "sparse_cluster"):
        slots = r.counters.get(f"{c}.mac_slots", 0.0)
        if slots:
            macs = sum(v for k, v in r.counters.items() if k.startswith(f"{c}.macs."))
            m[f"array_utilization.{c}"] = float(macs / slots)
    for k in ("dram_read_bytes", "dram_write_bytes", "dram_moved_bytes", "dram_row_misses"):
        m[k] = float(r.bytes.get(k, 0.0))
    m["weights_resident"] = bool(r.bytes.get("weights_resident", 0.0))
    m["macs_graph"] = float(r.macs["graph_macs"])
    m["macs_dense_executed"] = float(r.macs["dense_executed_macs"])
    m["macs_sparse_executed"] = float(r.macs["sparse_executed_macs"])
    m["macs_skipped"] = float(r.macs["skipped_macs"])
    m["detector_label_accuracy"] = float(r.detector.get("label_accuracy", 1.0))
    m["detector_wrong_labels"] = float(r.detector.get("wrong_labels", 0.0))
    m["events"] = int(r.events)
    m["wall_seconds"] = float(r.wall_seconds)
    return m


def _effective_seed(spec, profile) -> Optional[int]:
    if spec.profile is not None or profile is None:
        return spec.seed
    if spec.seed is not None:
        return spec.seed
    from workloads import synthetic_profile_defaults
    return int(synthetic_profile_defaults()["seed"])


def _point_hardware(point: Point):
    """The point's validated hardware config, rebuilt from its data (None: load it from the spec)."""
    if point.hardware_data is None:
        return None
    import copy

    from components.config import parse_hardware_config
    return parse_hardware_config(copy.deepcopy(point.hardware_data), f"{point.spec.hw} (point {point.index})",
                                 point.hardware_dir)


def execute_point(point: Point, keep_intervals: bool = False) -> dict:
    """Run one point (in a worker): a record with ``status`` ('ok' | 'failed'), ``metrics``, ``error``,
    ``seed``, ``versions``, ``wall_seconds`` and ``worker``; with ``keep_intervals`` the Report too
    (``report``). Never raises for a failing simulation: its error is the record's."""
    from .engine import simulate
    t0, c0 = time.perf_counter(), time.process_time()
    rec: dict[str, Any] = {"status": "ok", "metrics": None, "error": None, "seed": point.spec.seed}
    try:
        g, hw, profile, steps = resolve_point(point.spec, _point_hardware(point))
        rec["seed"] = _effective_seed(point.spec, profile)
        report = simulate(g, hw, steps=steps, profile=profile, progress=False, keep_intervals=keep_intervals)
        rec["metrics"] = point_metrics(report, hw)
        rec["metrics"]["cpu_seconds"] = time.process_time() - c0  # host CPU of the whole point (resolve + simulate)
        if keep_intervals:
            rec["report"] = report
    except Exception as e:  # noqa: BLE001 - a failing point is a result, not the end of the sweep
        rec["status"] = "failed"
        msg = " ".join(str(e).split())
        rec["error"] = f"{type(e).__name__}: {msg}"[:4000]
    rec["versions"] = package_versions()
    rec["wall_seconds"] = time.perf_counter() - t0
    rec["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return rec


def _full_record(point: Point, rec: dict) -> dict:
    return {"scenario": point.scenario, "hash": point.hash, "index": point.index, "params": point.params,
            "config": point.config, **{k: v for k, v in rec.items() if k != "report"}}


def _worker_died(point: Point, why: str) -> dict:
    return {"status": "failed", "metrics": None, "seed": point.spec.seed, "versions": package_versions(),
            "error": why, "wall_seconds": None, "worker": None}


# -- backends --------------------------------------------------------------------------------------------
_PRELOAD = ["des.sweep", "des.run", "des.engine", "quant.policy"]  # quant.policy imports torch
_PRELOAD_TORCH = ["workloads.extract", "workloads.build"]  # zoo models: their graphs are built


def start_forkserver(torch: bool = True) -> None:
    """Start the forkserver now (it imports the simulator while the caller does other work); a pool made
    later in this process uses it."""
    ctx = _mp_context(torch)
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver
        forkserver.ensure_running()


def _mp_context(torch: bool = True):
    """How worker processes start. ``fork`` when it is safe and free: this process has not imported torch
    (whose thread pools do not survive a fork) and runs no other thread; then a worker starts at once with
    everything this process imported (the CLI's case). Otherwise a ``forkserver`` that imports the simulator
    (and torch, for zoo models) once, from which workers fork; ``fork`` again when the main module is not a
    file a child could re-import (``python -``), ``spawn`` where neither exists."""
    import multiprocessing as mp
    import threading
    methods = mp.get_all_start_methods()
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    unimportable_main = spec_name is None and main_file is not None and not os.path.isfile(main_file)
    if "fork" in methods and (unimportable_main or ("torch" not in sys.modules and threading.active_count() == 1)):
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        # imported once in the server (the first pool of this process starts it); workers fork from it
        ctx.set_forkserver_preload(_PRELOAD + (_PRELOAD_TORCH if torch else []))
        return ctx
    return mp.get_context("spawn")


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent (which stops the sweep and ends them), so that an interrupt prints
    one line, not a traceback per worker."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _PoolBackend:
    """concurrent.futures over local worker processes."""

    def __init__(self, workers: int, torch: bool = True):
        from concurrent.futures import ProcessPoolExecutor
        self.workers = workers
        self._new = lambda: ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(torch),
                                                initializer=_worker_init)
        self.ex = self._new()

    def submit(self, point: Point):
        return self.ex.submit(execute_point, point)

    def wait(self, futures):
        from concurrent.futures import FIRST_COMPLETED, wait
        return wait(futures, return_when=FIRST_COMPLETED)[0]

    @staticmethod
    def broke(exc: BaseException) -> bool:
        from concurrent.futures.process import BrokenProcessPool
        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        self.ex.shutdown(wait=False, cancel_futures=True)
        self.ex = self._new()

    def close(self, cancel: bool = False) -> None:
        if cancel:  # interrupted or failed: end the workers now rather than after their current points
            procs = list((getattr(self.ex, "_processes", None) or {}).values())
            self.ex.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                try:
                    proc.terminate()
                except Exception:  # noqa: BLE001 - already gone
                    pass
        else:
            self.ex.shutdown(wait=True)


class _DaskBackend:
    """dask.distributed: a Client given, a scheduler address, or a LocalCluster of ``workers`` processes."""

    def __init__(self, dask: Any, workers: int):
        try:
            import distributed
        except ImportError:
            raise SweepError("--dask needs the 'distributed' package: pip install 'dask[distributed]'") from None
        self._distributed = distributed
        self._own: list = []
        if isinstance(dask, distributed.Client):
            self.client = dask
        elif dask == "local":
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None)
            self.client = distributed.Client(cluster)
            self._own = [self.client, cluster]
        else:
            try:
                self.client = distributed.Client(str(dask), timeout=20)
            except (OSError, TimeoutError) as e:
                raise SweepError(f"--dask {dask}: cannot reach the scheduler ({type(e).__name__}: {e})") from None
            self._own = [self.client]
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})) or workers)

    def submit(self, point: Point):
        return self.client.submit(execute_point, point, pure=False)

    def wait(self, futures):
        return self._distributed.wait(futures, return_when="FIRST_COMPLETED").done

    @staticmethod
    def broke(exc: BaseException) -> bool:
        return False

    def restart(self) -> None:  # pragma: no cover - dask reschedules work of lost workers itself
        pass

    def close(self, cancel: bool = False) -> None:
        for obj in self._own:
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass


class _InlineBackend:
    """Run points in this process, one at a time (``workers=0``; the trace of a one-point run)."""

    workers = 1

    def __init__(self, keep_intervals: bool = False):
        self.keep_intervals = keep_intervals
        self.reports: dict[str, Any] = {}

    def submit(self, point: Point):
        from concurrent.futures import Future
        f: Future = Future()
        rec = execute_point(point, keep_intervals=self.keep_intervals)
        if "report" in rec:
            self.reports[point.hash] = rec.pop("report")
        f.set_result(rec)
        return f

    def wait(self, futures):
        return set(futures)

    @staticmethod
    def broke(exc: BaseException) -> bool:
        return False

    def restart(self) -> None:  # pragma: no cover
        pass

    def close(self, cancel: bool = False) -> None:
        pass


# -- the parent's loop -----------------------------------------------------------------------------------
@dataclass
class SweepOutcome:
    """What one call did: points ran (ok / failed), skipped (already in the store), wall time."""

    points: int
    ran: int
    ok: int
    failed: int
    skipped: int
    wall_seconds: float
    workers: int
    backend: str
    reports: dict | None = None  # hash -> Report (inline runs with keep_intervals)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _progress_bar(total: int, desc: str, show: Optional[bool]):
    show = sys.stderr.isatty() if show is None else show
    if not show or total == 0:
        return None
    from tqdm import tqdm

    class _Bar(tqdm):
        monitor_interval = 0  # no monitor thread: worker processes may be forked from this one

    return _Bar(total=total, desc=desc, unit="pt", file=sys.stderr, smoothing=0.1)


def execute(points: Sequence[Point], store, *, workers: Optional[int] = None, dask: Any = None,
            progress: Optional[bool] = None, retry_failed: bool = False, keep_intervals: bool = False,
            desc: str = "sweep", force: bool = False) -> SweepOutcome:
    """Run the points not yet in ``store`` (a :class:`des.store.ResultsStore`; all of them with ``force``);
    see the module docstring. ``keep_intervals`` runs them in this process and keeps their Reports."""
    t0 = time.perf_counter()
    done: dict[tuple[str, str], str] = {}
    for sc in sorted({p.scenario for p in points}):
        done.update({(sc, h): status for h, status in store.finished(sc).items()})
    todo = [p for p in points if force or (p.scenario, p.hash) not in done
            or (retry_failed and done[(p.scenario, p.hash)] == "failed")]
    skipped = len(points) - len(todo)
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 0):
        raise SweepError(f"workers={workers!r}: must be a whole number >= 0 (0: run in this process)")
    if keep_intervals or workers == 0:
        backend: Any = _InlineBackend(keep_intervals)
        name = "in-process"
    elif dask is not None:
        backend = _DaskBackend(dask, workers or _cpus()) if todo else None
        name = "dask"
    else:
        n = max(1, min(workers or _cpus(), len(todo) or 1))
        from workloads import ZOO
        backend = _PoolBackend(n, torch=any(p.spec.workload in ZOO for p in todo)) if todo else None
        name = "processes"
    n_workers = backend.workers if backend is not None else 0
    ok = failed = 0
    bar = _progress_bar(len(todo), desc, progress)
    pending = deque(todo)
    inflight: dict[Any, Point] = {}
    strikes: dict[str, int] = {}
    window = 2 * max(1, n_workers)

    def commit(point: Point, rec: dict) -> None:
        nonlocal ok, failed
        store.put(_full_record(point, rec))
        if rec["status"] == "ok":
            ok += 1
        else:
            failed += 1
        if bar is not None:
            bar.update(1)
            if failed:
                bar.set_postfix(failed=failed, refresh=False)

    clean = False
    breaks = 0  # pool breaks since the last point that finished
    try:
        while pending or inflight:
            broken = False
            while pending and len(inflight) < window:
                p = pending.popleft()
                try:
                    inflight[backend.submit(p)] = p
                except Exception as e:  # noqa: BLE001
                    if not backend.broke(e):
                        raise
                    pending.appendleft(p)
                    broken = True
                    break
            finished = backend.wait(list(inflight)) if inflight and not broken else set()
            for fut in finished:
                p = inflight.pop(fut)
                try:
                    rec = fut.result()
                except Exception as e:  # noqa: BLE001 - the worker, not the point, failed
                    if backend.broke(e):
                        broken = True
                        strikes[p.hash] = strikes.get(p.hash, 0) + 1
                        if strikes[p.hash] >= 2:
                            commit(p, _worker_died(p, "worker process died while running this point (twice)"))
                        else:
                            pending.appendleft(p)
                        continue
                    rec = _worker_died(p, f"{type(e).__name__}: {' '.join(str(e).split())}"[:4000])
                commit(p, rec)
                breaks = 0
            if broken:
                breaks += 1
                if breaks >= 3:
                    raise SweepError("worker processes keep dying before finishing a point (is the main module "
                                     "importable by a child process? a script needs if __name__ == '__main__':)")
                for fut, p in list(inflight.items()):  # their results are lost with the pool
                    strikes[p.hash] = strikes.get(p.hash, 0) + 1
                    if strikes[p.hash] >= 2:
                        commit(p, _worker_died(p, "worker process died while running this point (twice)"))
                    else:
                        pending.appendleft(p)
                inflight.clear()
                backend.restart()
        clean = True
    finally:
        if bar is not None:
            if not clean:
                bar.leave = False
            bar.close()
        if backend is not None:
            backend.close(cancel=not clean)
    reports = backend.reports if isinstance(backend, _InlineBackend) else None
    return SweepOutcome(points=len(points), ran=ok + failed, ok=ok, failed=failed, skipped=skipped,
                        wall_seconds=time.perf_counter() - t0, workers=n_workers, backend=name, reports=reports)


def _open(store):
    from .store import ResultsStore
    if isinstance(store, ResultsStore):
        return store, False
    return ResultsStore(None if store is None else Path(os.fspath(store))), True


def run_points(points: Sequence[Point], store: Any = None, *, workers: Optional[int] = None, dask: Any = None,
               progress: Optional[bool] = None, retry_failed: bool = False):
    """Run ``points`` (from :meth:`Scenario.points`) into ``store`` (a path, a ResultsStore, or None: in
    memory) and return their results as a pandas DataFrame (one row per point, in sweep order; see
    :meth:`des.store.ResultsStore.dataframe`)."""
    st, own = _open(store)
    try:
        execute(points, st, workers=workers, dask=dask, progress=progress, retry_failed=retry_failed)
        return _frame(st, points)
    finally:
        if own:
            st.close()


def _frame(st, points: Sequence[Point]):
    import pandas as pd
    order = {(p.scenario, p.hash): k for k, p in enumerate(points)}
    frames = [st.dataframe(sc) for sc in sorted({p.scenario for p in points})]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        return df
    pos = pd.Series([order.get(k) for k in zip(df["scenario"], df["hash"])], index=df.index)
    df = df[pos.notna()].assign(_pos=pos[pos.notna()])
    index = {(p.scenario, p.hash): p.index for p in points}  # this sweep's numbering (a stored point may be older)
    df["index"] = [index[k] for k in zip(df["scenario"], df["hash"])]
    return df.sort_values("_pos").drop(columns="_pos").reset_index(drop=True)


def sweep(scenario: "Scenario | str | os.PathLike", store: Any = None, *, workers: Optional[int] = None,
          dask: Any = None, progress: Optional[bool] = None, retry_failed: bool = False):
    """Run every point of ``scenario`` (a Scenario or a scenario file) and return the results DataFrame.

    ``store``: results store path (resumable; see :mod:`des.store`), a ResultsStore, or None (in memory).
    ``workers``: worker processes (default: the CPUs; 0: in this process). ``dask``: None, "local", a
    scheduler address or a ``distributed.Client``."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    points = sc.points()
    st, own = _open(store)
    try:
        _remember_scenario(st, sc)
        execute(points, st, workers=workers, dask=dask, progress=progress, retry_failed=retry_failed,
                desc=sc.name)
        return _frame(st, points)
    finally:
        if own:
            st.close()


def _remember_scenario(st, sc: Scenario) -> None:
    import yaml
    text = yaml.safe_dump(sc.model_dump(mode="json", exclude_none=False), sort_keys=False)
    st.put_scenario(sc.name, sc.source, text)


def default_store_path(sc: Scenario) -> Path:
    """Where ``sqdm run`` keeps a scenario's results unless told: ``sqdm-results/<name>.sqlite`` (cwd)."""
    return Path("sqdm-results") / f"{sc.name}.sqlite"


def load_results(store: "str | os.PathLike", scenario: Optional[str] = None, *, config: bool = False):
    """The results in ``store`` as a DataFrame (:func:`des.store.load_results`)."""
    from .store import load_results as _load
    return _load(store, scenario, config=config)
