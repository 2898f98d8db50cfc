"""Fuzz: mutated workload files, hardware configs, ``--set`` overrides, policies and sparsity profiles, each fed
to ``sqdm simulate`` in-process. Every input must end in exit status 0 with a report that keeps the
invariants (executed + skipped MACs == graph MACs, every node at or above its roofline) or in status 2 with
exactly one ``sqdm: error:`` line; never a traceback, never past the time limit.

CI runs a small deterministic slice of each property; ``python -m pytest -m slow tests/fuzz`` runs the long
randomized version (see docs/robustness.md for the last result).
"""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzlib import fresh, run_and_check, workspace
from strategies import MACHINES, hostile, mutated, small_graph_docs, steps_values

CI = settings(max_examples=20, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _simulate(workload: str, hw: str = "int4-dense", *extra: str, steps: str = "2") -> None:
    out = fresh(".json")
    run_and_check(["simulate", "--hw", hw, "--workload", workload, "--steps", steps, *extra, "--out", str(out)],
                  report=out)


# -- workload files -----------------------------------------------------------------------------------
def _workload_files(data):
    doc = data.draw(small_graph_docs(), label="graph")
    doc = data.draw(mutated(doc, 3), label="mutated")
    text = json.dumps(doc, allow_nan=True)
    cut = data.draw(st.sampled_from([None, None, None, "truncate", "deep", "bytes"]), label="raw")
    p = fresh(".json")
    if cut == "truncate":
        text = text[: data.draw(st.integers(0, len(text)))]
    elif cut == "deep":
        text = "[" * data.draw(st.integers(60, 200_000)) + text
    p.write_text(text)
    if cut == "bytes":
        p.write_bytes(bytes(data.draw(st.binary(max_size=200))) + text.encode()[:100])
    _simulate(str(p), data.draw(st.sampled_from(MACHINES), label="hw"), steps=data.draw(steps_values()))


test_workload_files = CI(given(st.data())(_workload_files))
test_workload_files_long = pytest.mark.slow(LONG(given(st.data())(_workload_files)))


# -- valid graphs on valid machine variants: status 0 expected, and the invariants ------------------------
VALID_SETS = ["dram.address_mapping=interleaved", "dram.address_mapping=channel_last",
              "fusion.relu_quant_zero_count_fused=false", "global_buffer.double_buffered=false",
              "residency.keep_weights_on_chip_if_fit=false", "residency.keep_skip_tensors_on_chip_if_fit=false",
              "global_buffer.capacity_bytes=65536", "dram.bandwidth_gbytes_per_s=1.5", "vector_unit.lanes=33",
              "dense_cluster.multipliers=7"]
DETECTOR_SETS = ["detector.policy=per_step", "detector.policy=static", "detector.policy=oracle",
                 "detector.policy=every_k;detector.k=3", "detector.threshold=0.9", "detector.threshold=0.01"]


def _valid_graphs(data):
    from fuzzlib import graph_doc_text
    doc = data.draw(small_graph_docs(), label="graph")
    p = fresh(".json")
    p.write_text(graph_doc_text(doc))
    hw = data.draw(st.sampled_from(MACHINES), label="hw")
    pool = VALID_SETS + (DETECTOR_SETS if hw == "sqdm" else [])
    sets = data.draw(st.lists(st.sampled_from(pool), max_size=3, unique=True), label="sets")
    extra = [x for s in sets for one in s.split(";") for x in ("--set", one)]
    extra += ["--synthetic-mean", repr(data.draw(st.sampled_from([0.0, 0.3, 0.65, 1.0])))]
    _simulate(str(p), hw, *extra, steps=str(data.draw(st.integers(1, 4))))


test_valid_graphs = CI(given(st.data())(_valid_graphs))
test_valid_graphs_long = pytest.mark.slow(settings(LONG, max_examples=1500)(given(st.data())(_valid_graphs)))


# -- hardware configs and --set overrides ---------------------------------------------------------------
def _leaf_paths(doc, prefix=""):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaf_paths(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix


def _shipped(name):
    from components import shipped_config_path
    return yaml.safe_load(shipped_config_path(name).read_text())


def _hardware_files(data):
    doc = data.draw(mutated(_shipped(data.draw(st.sampled_from(MACHINES))), 2), label="config")
    p = fresh(".yaml")
    p.write_text(yaml.safe_dump(doc, allow_unicode=True))
    _simulate(str(workspace()["dir"] / "base.json"), str(p))


test_hardware_files = CI(given(st.data())(_hardware_files))
test_hardware_files_long = pytest.mark.slow(LONG(given(st.data())(_hardware_files)))


def _overrides(data):
    hw = data.draw(st.sampled_from(MACHINES))
    paths = list(_leaf_paths(_shipped(hw))) + ["dram", "vector_unit.ops_per_element", "nope.x", "dram..x", ""]
    sets = []
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(paths))
        value = data.draw(st.one_of(hostile().map(lambda v: json.dumps(v) if not isinstance(v, str) else v),
                                    st.sampled_from(["{}", "[]", "[[[[[[", "&a 1", "*a", "!!python/name:os.system",
                                                     "{a: *b}", "0.5", "2", "1e-9", "4096", "oracle", "static"]),
                                    st.text(max_size=20)))
        sets += ["--set", f"{key}={value}"]
    _simulate(str(workspace()["dir"] / "base.json"), hw, *sets)


test_overrides = CI(given(st.data())(_overrides))
test_overrides_long = pytest.mark.slow(LONG(given(st.data())(_overrides)))


# -- policies -------------------------------------------------------------------------------------------
REGEXES = [r"^([a-z0-9_.]+)*$", r"(a+)+$", r"(a|aa)*b", r".*.*.*.*x", r"l\d+:conv2d", r"(l1|l2):.*", r"[", r"(?=x)",
           r"\w*\w*\w*y", r"a{1,100000}", r"(?P<a>x)(?P=a)", r".*", r"l[0-9]+:linear"]
GLOBS = ["*", "l1:*", "*conv*", "[", "[!a]*", "*" * 40, "?" * 300, "conv_in:conv2d", "*:matmul"]


def _policies(data):
    from quant.policy import POLICY_DIR
    base = yaml.safe_load((POLICY_DIR / f"{data.draw(st.sampled_from(['sqdm', 'int4', 'fp16']))}.yaml").read_text())
    extra = data.draw(st.lists(st.fixed_dictionaries(
        {"weight": st.sampled_from(["int4", "mxint8", "fp16", "int3", "fp32"]),
         "act": st.sampled_from(["int4", "mxint8", "fp16", "uint4_e4m3_v16"])},
        optional={"regex": st.one_of(st.sampled_from(REGEXES), st.text(alphabet="a()*+?|.[]{}\\^$l1:", max_size=24)),
                  "match": st.one_of(st.sampled_from(GLOBS), st.text(max_size=12)),
                  "kind": st.sampled_from(["conv", "linear", "matmul", "pool"]),
                  "sparse_eligible": st.sampled_from([True, False, "yes", 1])}), max_size=3))
    base["rules"] = extra + base["rules"]
    doc = data.draw(mutated(base, 2), label="policy")
    p = fresh(".yaml")
    p.write_text(yaml.safe_dump(doc, allow_unicode=True))
    hw = {"sqdm": "sqdm", "int4": "int4-dense", "fp16": "fp16-dense"}.get(str(doc.get("name")), "sqdm") \
        if isinstance(doc, dict) else "sqdm"
    _simulate(str(workspace()["dir"] / "base.json"), hw, "--policy", str(p))


test_policies = CI(given(st.data())(_policies))
test_policies_long = pytest.mark.slow(LONG(given(st.data())(_policies)))


# -- sparsity profiles ----------------------------------------------------------------------------------
def _profiles(data):
    ws = workspace()
    with np.load(ws["dir"] / "base.profile.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = data.draw(mutated(json.loads(str(arrays["meta"])), 2), label="meta")
    arrays["meta"] = np.array(json.dumps(meta, allow_nan=True))
    how = data.draw(st.sampled_from(["none", "none", "values", "dtype", "shape", "extra", "drop", "bytes", "bomb"]))
    zf = arrays["zero_fraction"]
    if how == "values":
        zf = zf.copy()
        zf[data.draw(st.integers(0, zf.size - 1))] = data.draw(st.sampled_from([np.nan, np.inf, -0.5, 1.5, 2.0]))
    elif how == "dtype":
        zf = zf.astype(data.draw(st.sampled_from(["int64", "float16", "bool", "complex64", "U3"])))
    elif how == "shape":
        zf = zf.reshape(1, -1) if data.draw(st.booleans()) else zf[: data.draw(st.integers(0, zf.size))]
    elif how == "extra":
        arrays["payload"] = np.zeros(3)
    elif how == "drop":
        arrays.pop(data.draw(st.sampled_from(["meta", "zero_fraction"])))
    arrays["zero_fraction"] = zf if "zero_fraction" in arrays else None
    arrays = {k: v for k, v in arrays.items() if v is not None}
    p = fresh(".npz")
    if how == "bytes":
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        raw = bytearray(buf.getvalue())
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        p.write_bytes(bytes(raw[: data.draw(st.integers(0, len(raw)))]))
    elif how == "bomb":  # a member whose header claims far more data (8 TB) than the member holds
        meta_npy, lie = io.BytesIO(), io.BytesIO()
        np.lib.format.write_array(meta_npy, arrays["meta"])
        np.lib.format.write_array_header_1_0(lie, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("meta.npy", meta_npy.getvalue())
            z.writestr("zero_fraction.npy", lie.getvalue() + b"\x00" * 64)
    else:
        np.savez_compressed(p, **arrays)
    _simulate(str(ws["dir"] / "base.json"), "sqdm", "--profile", str(p), steps=data.draw(steps_values()))


test_profiles = CI(given(st.data())(_profiles))
test_profiles_long = pytest.mark.slow(LONG(given(st.data())(_profiles)))
