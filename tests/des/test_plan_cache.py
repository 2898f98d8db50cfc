"""The prepared-plan cache (des/plan_cache.py): a hit skips the tiling search and changes no result; the key
separates machines; a damaged, tampered or foreign entry is never trusted; ``sqdm cache`` sees the entries.

Each test points SQDM_CACHE_DIR at its own folder (without it the cache is off under pytest)."""
import json

import pytest

import des.mapping as mapping
from des import simulate
from des.plan_cache import PLAN_CACHE_FORMAT, PLAN_CACHE_VERSION, _entry_path, plan_key
from des.run import load_hardware
from workloads.cache import cache_entries, clear_cache, write_entry

from des_helpers import graph, profile


@pytest.fixture
def cdir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("SQDM_CACHE_DIR", str(d))
    return d


def _run(hw_overrides=()):
    return simulate(graph("tiny-digits", "sqdm"), load_hardware("sqdm", hw_overrides), steps=2,
                    profile=profile("tiny-digits", 2), progress=False, plan_cache=True)


def _same(a, b):
    assert a.total_cycles == b.total_cycles and a.energy_pj == b.energy_pj
    assert a.counters == b.counters
    assert (a.node_cycles == b.node_cycles).all()


@pytest.fixture
def searches(monkeypatch):
    """Counts the tiling searches (des.mapping.plan_graph calls)."""
    calls = []
    original = mapping.plan_graph

    def counting(*a, **k):
        calls.append(1)
        return original(*a, **k)

    monkeypatch.setattr(mapping, "plan_graph", counting)
    return calls


def _plan_entries():
    return [p for p in cache_entries() if p.suffix == ".plans"]


def test_hit_skips_the_search_and_changes_nothing(cdir, searches):
    first = _run()
    assert len(searches) == 1 and len(_plan_entries()) == 1
    second = _run()
    assert len(searches) == 1  # read back, not searched
    _same(first, second)
    uncached = simulate(graph("tiny-digits", "sqdm"), load_hardware("sqdm"), steps=2,
                        profile=profile("tiny-digits", 2), progress=False)
    _same(first, uncached)


def test_another_machine_is_another_entry(cdir, searches):
    _run()
    _run(("dram.bandwidth_gbytes_per_s=51.2",))
    assert len(searches) == 2 and len(_plan_entries()) == 2


def test_another_expected_sparsity_is_another_entry(cdir, searches):
    """The search costs sparse-eligible nodes with the profile's calibration, so the key holds it; a
    machine that labels nothing (detector off) is planned without it."""
    g, hw = graph("tiny-digits", "sqdm"), load_hardware("sqdm")
    simulate(g, hw, steps=2, profile=profile("tiny-digits", 2), progress=False, plan_cache=True)
    other = profile("tiny-digits", 2, mean=0.3)
    simulate(g, hw, steps=2, profile=other, progress=False, plan_cache=True)
    assert len(searches) == 2 and len(_plan_entries()) == 2
    off = load_hardware("sqdm", ("detector.policy=off",))
    simulate(g, off, steps=2, profile=other, progress=False, plan_cache=True)
    simulate(g, off, steps=2, profile=profile("tiny-digits", 2), progress=False, plan_cache=True)
    assert len(searches) == 3  # one entry for the machine without a detector, whatever the profile


def _damage(path, transform):
    raw = path.read_bytes()
    path.write_bytes(transform(raw))


@pytest.mark.parametrize("how", ["flip a body byte", "truncate", "not json", "another format"])
def test_damaged_entry_is_planned_again(cdir, searches, capsys, how):
    good = _run()
    (path,) = _plan_entries()
    transforms = {
        "flip a body byte": lambda r: r[:-10] + bytes([r[-10] ^ 1]) + r[-9:],
        "truncate": lambda r: r[: len(r) // 2],
        "not json": lambda r: b"garbage\n" + r.partition(b"\n")[2],
        "another format": lambda r: r.replace(PLAN_CACHE_FORMAT.encode(), b"sqdm-graph-cache", 1),
    }
    _damage(path, transforms[how])
    again = _run()
    assert len(searches) == 2
    assert "sqdm: note: plan cache entry" in capsys.readouterr().err
    _same(good, again)
    _run()  # the rewritten entry is good again
    assert len(searches) == 2


@pytest.mark.parametrize("edit", ["wrong type", "missing node", "other fields", "node twice"])
def test_tampered_entry_with_a_valid_checksum_is_not_trusted(cdir, searches, capsys, edit):
    good = _run()
    (path,) = _plan_entries()
    g, hw, prof = graph("tiny-digits", "sqdm"), load_hardware("sqdm"), profile("tiny-digits", 2)
    key = plan_key(g, hw, {n: prof.calibration(n) for n in prof.zero_fraction})  # as simulate() keys it
    assert _entry_path(key, cdir) == path
    body = json.loads(path.read_bytes().partition(b"\n")[2])
    if edit == "wrong type":
        body["rows"][0][body["fields"].index("bands")] = "4"
    elif edit == "missing node":
        body["rows"].pop()
    elif edit == "other fields":
        body["fields"][0] = "name"
    else:
        body["rows"].append(body["rows"][0])
    write_entry(path, key, json.dumps(body).encode(), fmt=PLAN_CACHE_FORMAT, version=PLAN_CACHE_VERSION)
    again = _run()
    assert len(searches) == 2 and "planning again" in capsys.readouterr().err
    _same(good, again)


def test_entries_listed_and_cleared_with_the_graph_cache(cdir):
    _run()
    assert len(_plan_entries()) == 1
    removed, _ = clear_cache()
    assert removed >= 1 and not _plan_entries()


def test_off_under_pytest_without_a_folder(monkeypatch, tmp_path, searches):
    monkeypatch.delenv("SQDM_CACHE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    _run()
    _run()
    assert len(searches) == 2  # nothing stored, nothing read
