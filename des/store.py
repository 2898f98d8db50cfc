"""The results store of sweeps: one SQLite file, one row per finished point, committed atomically.

Why SQLite (stdlib ``sqlite3``) rather than DuckDB or Parquet:

* **crash safety per point**: every finished point is one transaction (write-ahead log, ``synchronous=FULL``),
  so a run killed at any moment (SIGKILL, power loss) keeps every committed point and never a half-written
  one; Parquet files are written whole (a point at a time would mean a file per point or rewriting the file),
  and DuckDB is built for bulk analytics, not many small commits;
* **concurrent readers**: ``sqdm plot`` or a notebook can read the store while a sweep writes it (WAL);
* **nothing to install**: ``sqlite3`` ships with Python; results load into pandas in one query
  (:meth:`ResultsStore.dataframe`).

Only the parent process of a sweep writes (workers return their results to it); a second writer on the same
file would wait on SQLite's lock (``busy_timeout``), never corrupt it. Points are keyed by (scenario, config
hash), so a point is stored at most once: a rerun skips what is there and a retried failure replaces its row.

Schema (format ``sqdm-results`` version 1): ``meta(key, value)``; ``scenarios(name, source, text, sha256,
updated_utc)`` (the scenario file of each run); ``points(scenario, hash, idx, status ('ok' | 'failed'),
params, config, seed, versions, metrics, error, wall_seconds, worker, finished_utc)``, JSON text in
``params``, ``config``, ``versions`` and ``metrics``.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Optional

__all__ = ["ResultsStore", "StoreError", "STORE_FORMAT", "STORE_FORMAT_VERSION", "load_results", "open_store"]

STORE_FORMAT = "sqdm-results"
STORE_FORMAT_VERSION = 1
MAX_STORE_BYTES = 64 << 30
"""A store larger than this is refused when read (a 100-point sweep is ~1 MB; the hardware config of every
point is kept with it, ~5 KB each)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scenarios (
    name TEXT PRIMARY KEY, source TEXT, text TEXT, sha256 TEXT, updated_utc TEXT);
CREATE TABLE IF NOT EXISTS points (
    scenario TEXT NOT NULL,
    hash TEXT NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    params TEXT NOT NULL,
    config TEXT NOT NULL,
    seed INTEGER,
    versions TEXT NOT NULL,
    metrics TEXT,
    error TEXT,
    wall_seconds REAL,
    worker TEXT,
    finished_utc TEXT NOT NULL,
    PRIMARY KEY (scenario, hash));
"""


class StoreError(ValueError):
    """A results store that cannot be opened, read or written as asked (one line)."""


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _dumps(v: Any) -> str:
    return json.dumps(v, sort_keys=True, allow_nan=True, default=str)


class ResultsStore:
    """A results store file (see the module docstring). ``readonly=True`` opens an existing store for
    reading (while a sweep may be writing it)."""

    def __init__(self, path: str | os.PathLike | None, *, readonly: bool = False):
        self.readonly = readonly
        if path is None:  # in memory: a sweep run from Python without a store
            self.path = Path(":memory:")
            self._db = sqlite3.connect(":memory:")
            with self._db:
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT INTO meta VALUES ('format', ?), ('format_version', ?)",
                                 (STORE_FORMAT, str(STORE_FORMAT_VERSION)))
            return
        self.path = Path(os.fspath(path))
        if readonly:
            from components.fileio import InputFileError, check_input_file
            try:
                check_input_file(self.path, "results store", MAX_STORE_BYTES)
            except InputFileError as e:
                raise StoreError(str(e)) from None
        else:
            from components.fileio import OutputPathError, check_output_path
            try:
                check_output_path(self.path, "results store")
            except OutputPathError as e:
                raise StoreError(str(e)) from None
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if readonly:
                self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
            else:
                self._db = sqlite3.connect(self.path, timeout=30)
            self._db.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
                with self._db:
                    self._db.executescript(_SCHEMA)
                    self._db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?), ('format_version', ?)",
                                     (STORE_FORMAT, str(STORE_FORMAT_VERSION)))
            self._check_format()
        except sqlite3.Error as e:
            raise StoreError(f"results store {self.path}: not a readable sqdm results store ({e})") from None

    def _check_format(self) -> None:
        try:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as e:
            raise StoreError(f"results store {self.path}: not an sqdm results store ({e})") from None
        if meta.get("format") != STORE_FORMAT:
            raise StoreError(f"results store {self.path}: format {meta.get('format')!r} is not '{STORE_FORMAT}'")
        if meta.get("format_version") != str(STORE_FORMAT_VERSION):
            raise StoreError(f"results store {self.path}: format_version {meta.get('format_version')} is not "
                             f"{STORE_FORMAT_VERSION}")

    # -- writing (the sweep's parent process only) ---------------------------------------------------------
    def put_scenario(self, name: str, source: str, text: str) -> None:
        import hashlib
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO scenarios VALUES (?, ?, ?, ?, ?)",
                             (name, source, text, hashlib.sha256(text.encode()).hexdigest(), _utc()))

    def put(self, rec: dict) -> None:
        """Commit one finished point (one transaction): keys scenario, hash, index, status, params, config,
        seed, versions, metrics, error, wall_seconds, worker."""
        row = (rec["scenario"], rec["hash"], int(rec["index"]), rec["status"], _dumps(rec.get("params", {})),
               _dumps(rec.get("config", {})), rec.get("seed"), _dumps(rec.get("versions", {})),
               None if rec.get("metrics") is None else _dumps(rec["metrics"]), rec.get("error"),
               rec.get("wall_seconds"), rec.get("worker"), _utc())
        try:
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO points VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
        except sqlite3.Error as e:
            raise StoreError(f"results store {self.path}: cannot write ({e})") from None

    # -- reading -------------------------------------------------------------------------------------------
    def finished(self, scenario: str) -> dict[str, str]:
        """hash -> status of the points of ``scenario`` already in the store."""
        return dict(self._db.execute("SELECT hash, status FROM points WHERE scenario = ?", (scenario,)).fetchall())

    def count(self, scenario: Optional[str] = None) -> int:
        q, a = ("SELECT COUNT(*) FROM points", ()) if scenario is None else \
            ("SELECT COUNT(*) FROM points WHERE scenario = ?", (scenario,))
        return int(self._db.execute(q, a).fetchone()[0])

    def scenarios(self) -> list[str]:
        """Names of the scenarios with points in the store (sorted)."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT scenario FROM points ORDER BY scenario")]

    def scenario_text(self, name: str) -> Optional[str]:
        row = self._db.execute("SELECT text FROM scenarios WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def records(self, scenario: Optional[str] = None) -> list[dict]:
        """Every point (of ``scenario``) as a dict, JSON columns decoded, in sweep order."""
        cols = ["scenario", "hash", "idx", "status", "params", "config", "seed", "versions", "metrics", "error",
                "wall_seconds", "worker", "finished_utc"]
        q = f"SELECT {', '.join(cols)} FROM points"
        args: tuple = ()
        if scenario is not None:
            q += " WHERE scenario = ?"
            args = (scenario,)
        q += " ORDER BY scenario, idx"
        out = []
        try:
            rows = self._db.execute(q, args).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"results store {self.path}: cannot read ({e})") from None
        for r in rows:
            d = dict(zip(cols, r))
            for k in ("params", "config", "versions", "metrics"):
                d[k] = None if d[k] is None else json.loads(d[k])
            d["index"] = d.pop("idx")
            out.append(d)
        return out

    def dataframe(self, scenario: Optional[str] = None, *, config: bool = False):
        """The points as a pandas DataFrame: ``scenario, index, hash, status, error, seed, wall_seconds``,
        one column per swept field (its path, e.g. ``run.batch``) and one per metric (``seconds``,
        ``energy_pj``, ``area_mm2``, ``utilization.dense_cluster``, ...; NaN for a failed point); the
        resolved ``config`` too when asked."""
        import pandas as pd
        rows = []
        for rec in self.records(scenario):
            row = {"scenario": rec["scenario"], "index": rec["index"], "hash": rec["hash"], "status": rec["status"],
                   "error": rec["error"], "seed": rec["seed"], "point_wall_seconds": rec["wall_seconds"],
                   "worker": rec["worker"], "finished_utc": rec["finished_utc"]}
            for k, v in (rec["params"] or {}).items():
                row[k] = v if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True)
            row.update(rec["metrics"] or {})
            row["versions"] = rec["versions"]
            if config:
                row["config"] = rec["config"]
            rows.append(row)
        return pd.DataFrame(rows)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_store(path: str | os.PathLike, readonly: bool = False) -> ResultsStore:
    """:class:`ResultsStore` ``(path, readonly=readonly)``."""
    return ResultsStore(path, readonly=readonly)


def load_results(path: str | os.PathLike, scenario: Optional[str] = None, *, config: bool = False):
    """The results in store ``path`` (of ``scenario``) as a pandas DataFrame (see :meth:`ResultsStore.dataframe`)."""
    with ResultsStore(path, readonly=True) as s:
        return s.dataframe(scenario, config=config)
