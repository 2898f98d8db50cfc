"""Crash safety: a sweep killed with SIGKILL (its whole process group, workers included) at any moment keeps
every committed point; the rerun resumes and ends with every point stored exactly once."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from des.scenario import load_scenario


def _count(store) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    except sqlite3.Error:  # created but no table yet
        return 0


def test_sigkill_then_resume(write_scenario, tmp_path):
    path = write_scenario(name="crash", run={"steps": 12},
                          sweep={"grid": {"hardware.dram.bandwidth_gbytes_per_s": [12.8, 25.6, 51.2, 102.4, 204.8],
                                          "run.synthetic_mean": [0.2, 0.4, 0.6, 0.8]}})
    n = len(load_scenario(path).points())
    store = tmp_path / "crash.sqlite"
    # the sweep through the Python API (a parent that never imports torch forks its workers at once) ...
    script = f"from des.sweep import sweep; sweep({str(path)!r}, {str(store)!r}, workers=2, progress=False)"
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _count(store) < 1:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no point committed within 120 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers: one process group
        proc.wait(timeout=30)
    # the parent died by the signal, not by finishing the sweep first
    assert proc.returncode == -signal.SIGKILL, f"sweep ended by itself (status {proc.returncode}) before the kill"
    killed_at = _count(store)
    assert killed_at < n, f"all {n} points were stored before the kill: the sweep was not interrupted"
    # every point committed before the kill is whole: a finished record with its metrics
    with sqlite3.connect(store) as db:
        kept = db.execute("SELECT status, metrics, finished_utc FROM points").fetchall()
    assert len(kept) == killed_at
    assert all(st == "ok" and json.loads(m)["total_cycles"] > 0 and fin for st, m, fin in kept)
    # ... resumed by the command line, which runs exactly the points the kill lost
    cmd = [sys.executable, "-m", "des.cli", "run", str(path), "--store", str(store), "--workers", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"; {killed_at} already in the store" in done.stdout
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT hash, COUNT(*) FROM points GROUP BY hash").fetchall()
        statuses = {r[0] for r in db.execute("SELECT status FROM points")}
    assert len(rows) == n and all(c == 1 for _, c in rows) and statuses == {"ok"}
    assert {h for h, _ in rows} == {p.hash for p in load_scenario(path).points()}
