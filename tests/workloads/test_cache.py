"""The prepared-graph cache (workloads/cache.py): hits, keys, damaged entries rebuilt, never trusted, an unwritable
folder never failing a run, and the lazy ``workloads`` package.

Every test points SQDM_CACHE_DIR at its own tmp_path (without it the cache is off under pytest), so no test touches
the user's cache or another test's entries.
"""
import hashlib
import json
import os
import subprocess
import sys

import networkx as nx
import pytest

import workloads
from workloads import cache
from workloads.cache import (cache_dir, cache_entries, clear_cache, entry_key, entry_path, load_entry, policy_file,
                             prepared_graph, store_entry)


@pytest.fixture(scope="module")
def prepared():
    from quant.policy import apply_policy
    return apply_policy(workloads.build_workload("tiny-digits", activation="relu"), "sqdm")


@pytest.fixture
def cdir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("SQDM_CACHE_DIR", str(d))
    return d


class Builder:
    def __init__(self, g):
        self.g, self.calls = g, 0

    def __call__(self):
        self.calls += 1
        return self.g.copy()


KW = dict(activation="relu", policy="sqdm")


def _same(g, h):
    assert list(h.nodes) == list(g.nodes)
    assert dict(h.nodes(data=True)) == dict(g.nodes(data=True))
    assert list(h.edges(data=True)) == list(g.edges(data=True))
    assert all(list(h.pred[n]) == list(g.pred[n]) for n in g)
    assert h.graph == g.graph


def test_hit_returns_the_same_graph_without_building(cdir, prepared):
    b = Builder(prepared)
    g1 = prepared_graph("tiny-digits", b, **KW)
    assert b.calls == 1 and len(cache_entries()) == 1 and cache_entries()[0].parent == cdir
    g2 = prepared_graph("tiny-digits", b, **KW)
    assert b.calls == 1
    _same(prepared, g1)
    _same(prepared, g2)
    assert g2.graph["precision"]["policy"] == "sqdm"


def test_key_covers_every_setting(cdir, tmp_path):
    base = entry_key("tiny-digits", **KW)
    assert base["resolution"] == 8  # the default filled in: --resolution 8 and no --resolution share an entry
    assert entry_key("tiny-digits", resolution=8, **KW) == base
    variants = [entry_key("tiny-digits", resolution=16, **KW), entry_key("tiny-digits", activation="silu", policy="sqdm"),
                entry_key("tiny-digits", batch=2, **KW), entry_key("tiny-digits", cfg=True, **KW),
                entry_key("tiny-digits", activation="relu", policy="int4"),
                entry_key("tiny-digits", activation="relu", policy=None), entry_key("edm-cifar10", **KW)]
    paths = {entry_path(k) for k in [base, *variants]}
    assert len(paths) == 1 + len(variants)
    for field in ("versions", "source_sha256", "policy_sha256", "cache_format_version", "graph_format_version"):
        assert base[field]
    assert set(base["versions"]) == {"sqdm-sim", "torch", "diffusers"}


def test_policy_file_content_is_in_the_key(cdir, tmp_path):
    from quant.policy import POLICY_DIR, load_policy
    assert policy_file("sqdm").resolve() == (POLICY_DIR / "sqdm.yaml").resolve()
    assert load_policy("sqdm").source == str(POLICY_DIR / "sqdm.yaml")
    assert policy_file("x" * 5000) is None
    p = tmp_path / "mine.yaml"
    p.write_text((POLICY_DIR / "sqdm.yaml").read_text())
    k1 = entry_key("tiny-digits", activation="relu", policy=str(p))
    assert k1["policy_sha256"] == hashlib.sha256((POLICY_DIR / "sqdm.yaml").read_bytes()).hexdigest()
    p.write_text(p.read_text() + "\n# edited\n")
    assert entry_key("tiny-digits", activation="relu", policy=str(p)) != k1
    # not cacheable: let the build report the problem
    assert entry_key("tiny-digits", activation="relu", policy=str(tmp_path / "missing.yaml")) is None
    assert entry_key("tiny-digits", activation="relu", policy="") is None
    assert entry_key("not-a-model", **KW) is None


def test_no_cache_neither_reads_nor_writes(cdir, prepared):
    b = Builder(prepared)
    prepared_graph("tiny-digits", b, use_cache=False, **KW)
    assert b.calls == 1 and not cdir.exists()
    prepared_graph("tiny-digits", b, **KW)
    prepared_graph("tiny-digits", b, use_cache=False, **KW)
    assert b.calls == 3


def _corruptions(path, key, g):
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n")
    header = json.loads(head)

    def resigned(new_body: bytes) -> bytes:  # a consistent header: only the schema can refuse it
        h = dict(header, body_bytes=len(new_body), body_sha256=hashlib.sha256(new_body).hexdigest())
        return json.dumps(h).encode() + b"\n" + new_body

    data = json.loads(body)
    data["graph"]["nodes"][3]["macs"] = -5
    other_key = dict(key, batch=7)
    return {
        "empty": b"",
        "truncated": raw[: len(raw) // 2],
        "flipped byte": raw[:-40] + bytes([raw[-40] ^ 0x01]) + raw[-39:],
        "binary": bytes(range(256)) * 10,
        "no header": body,
        "header not json": b"{nope\n" + body,
        "header a list": b"[1, 2]\n" + body,
        "old format version": json.dumps(dict(header, format_version=0)).encode() + b"\n" + body,
        "other key": json.dumps(dict(header, key=other_key)).encode() + b"\n" + body,
        "invalid graph, valid checksum": resigned(json.dumps(data).encode()),
        "not json body, valid checksum": resigned(b"\xff\xfe garbage"),
        "deep json body": resigned(b"[" * 100_000 + b"]" * 100_000),
        "NaN in body": resigned(body.replace(b'"macs":0', b'"macs":NaN', 1)),
    }


def test_damaged_entries_are_rebuilt_never_trusted(cdir, prepared, capsys):
    b = Builder(prepared)
    prepared_graph("tiny-digits", b, **KW)
    key = entry_key("tiny-digits", **KW)
    path = entry_path(key)
    good = path.read_bytes()
    for what, raw in _corruptions(path, key, prepared).items():
        path.write_bytes(raw)
        calls = b.calls
        g = prepared_graph("tiny-digits", b, **KW)
        err = capsys.readouterr().err
        assert b.calls == calls + 1, what
        _same(prepared, g)
        assert err.startswith("sqdm: note: graph cache entry") and err.count("\n") == 1, (what, err)
        assert path.read_bytes() == good, what  # rewritten
    capsys.readouterr()


def test_oversized_entry_and_folder_at_entry_path(cdir, prepared, capsys):
    b = Builder(prepared)
    path = entry_path(entry_key("tiny-digits", **KW))
    cdir.mkdir(parents=True)
    with open(path, "wb") as f:  # sparse file above the size limit: refused from stat alone
        f.truncate(cache._MAX_ENTRY_BYTES + 1)
    _same(prepared, prepared_graph("tiny-digits", b, **KW))
    assert "limit" in capsys.readouterr().err and path.stat().st_size < 10**7
    path.unlink()
    path.mkdir()  # a folder where the entry should be: not read, not replaced, the run goes on
    _same(prepared, prepared_graph("tiny-digits", b, **KW))
    err = capsys.readouterr().err
    assert "folder" in err and "not written" in err and b.calls == 2


def test_unwritable_cache_folder_never_fails_the_run(tmp_path, monkeypatch, prepared, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("SQDM_CACHE_DIR", str(blocker / "cache"))  # its parent is a file: mkdir fails
    b = Builder(prepared)
    _same(prepared, prepared_graph("tiny-digits", b, **KW))
    err = capsys.readouterr().err
    assert err.startswith("sqdm: note: graph cache not written") and err.count("\n") == 1
    assert cache_entries() == [] and clear_cache() == (0, 0)


def test_load_entry_checks_the_key(cdir, prepared):
    key = entry_key("tiny-digits", **KW)
    path = entry_path(key)
    store_entry(path, key, prepared)
    _same(prepared, load_entry(path, key, "sqdm"))
    with pytest.raises(workloads.WorkloadFileError, match="another key"):
        load_entry(path, dict(key, batch=2), "sqdm")
    with pytest.raises(FileNotFoundError):
        load_entry(path.with_name("missing.graph"), key, "sqdm")


def test_cache_dir_locations(tmp_path, monkeypatch):
    monkeypatch.delenv("SQDM_CACHE_DIR", raising=False)
    assert os.environ.get("PYTEST_CURRENT_TEST") and cache_dir() is None  # off under pytest by default
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "sqdm-sim"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "sqdm-sim"
    monkeypatch.setenv("SQDM_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_clear_and_cli(cdir, prepared, capsys):
    from des.cli import main
    b = Builder(prepared)
    prepared_graph("tiny-digits", b, **KW)
    prepared_graph("tiny-digits", b, activation="relu", policy="int4")
    entry = cache_entries()[0].name
    (cdir / f".{entry}.0123456789ab.tmp.graph").write_text("left by a crash")
    for kept in ("unrelated.txt", ".hidden.tmp", "x.graph", "tiny-digits-0123.graph"):  # not written by sqdm
        (cdir / kept).write_text("kept")
    assert len(cache_entries()) == 2
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"graph cache {cdir}: 2 entries" in out and "tiny-digits-" in out
    assert main(["cache", "clear"]) == 0
    assert "removed 3 file(s)" in capsys.readouterr().out
    assert sorted(p.name for p in cdir.iterdir()) == [".hidden.tmp", "tiny-digits-0123.graph", "unrelated.txt",
                                                      "x.graph"]


def test_lazy_package_keeps_every_name():
    import importlib
    for name in workloads.__all__:
        value = getattr(workloads, name)
        module = importlib.import_module(workloads._EXPORTS[name], "workloads")
        assert getattr(module, name) is value, name
    from workloads.extract import GRAPH_FORMAT_VERSION, MAC_KINDS  # noqa: F401 - still importable from there
    from workloads.zoo import UNet, ZOO  # noqa: F401
    from workloads.zoo.unet import UNetSpec
    assert UNetSpec is workloads.UNetSpec and isinstance(workloads.ZOO, dict)
    assert workloads.extract.MAC_KINDS == ("conv", "linear", "matmul") and workloads.zoo.unet.UNet is workloads.UNet
    with pytest.raises(AttributeError):
        workloads.no_such_name  # noqa: B018


def test_light_imports_do_not_load_torch():
    code = ("import sys, workloads; from workloads import ZOO, read_graph, synthetic_profile, build_workload, "
            "UNetSpec, TINY_DIGITS_SPEC; import workloads.cache as c; c.entry_key('ddpm-cifar10', activation='relu', "
            "policy='sqdm'); print(sorted(m for m in ('torch', 'diffusers', 'quant', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_graph_is_a_digraph_even_from_cache(cdir, prepared):
    b = Builder(prepared)
    prepared_graph("tiny-digits", b, **KW)
    g = prepared_graph("tiny-digits", b, **KW)
    assert isinstance(g, nx.DiGraph) and not g.is_multigraph() and nx.is_directed_acyclic_graph(g)
