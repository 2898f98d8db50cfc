"""Shared machinery of the fuzz suite: run the CLI in-process under a time limit, classify the outcome,
check a successful run's report, and build small valid workload graphs to mutate.

Outcome classes (:func:`classify`):

* ``ok``: exit status 0 (and, for ``simulate --out``, a report that keeps the invariants);
* ``error``: exit status 2 with exactly one stderr line, starting ``sqdm: error:``, and no traceback;
* ``interrupted`` / ``help``: status 130 / argparse's ``SystemExit(0)``;
* ``traceback``, ``hang``, ``bad-error`` (status 2 but not one clean line), ``bad-status``, ``invariant``:
  failures.

Counts of every outcome are appended to ``$SQDM_FUZZ_STATS`` (JSON lines) when it is set, and summed by
``tests/fuzz/conftest.py`` at the end of the session.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TIME_LIMIT_S = 30.0
"""A run taking longer than this is a hang (the slowest legitimate fuzz input takes ~2 s here)."""
COUNTS: Counter = Counter()


class Hang(BaseException):
    """Raised by the alarm inside a run that exceeded its time limit (a BaseException: main cannot catch it)."""


@dataclass
class Outcome:
    argv: list[str]
    status: int | None
    stdout: str
    stderr: str
    seconds: float
    kind: str = ""
    detail: str = ""
    extra: dict = field(default_factory=dict)


def _alarm(signum, frame):  # noqa: ARG001
    raise Hang()


def run_cli(argv: list[str], time_limit_s: float = TIME_LIMIT_S) -> Outcome:
    """``des.cli.main(argv)`` in this process with stdout/stderr captured and a wall-clock limit."""
    from des.cli import main
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit_s)
    t0 = time.perf_counter()
    status, kind, detail = None, "", ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except Hang:
        kind, detail = "hang", f"over {time_limit_s} s"
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 0
        kind = "help" if status == 0 else ""
    except BaseException as e:  # noqa: BLE001 - every escape is a traceback the user would see
        kind, detail = "traceback", "".join(traceback.format_exception(e))[-3000:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return Outcome(list(argv), status, out.getvalue(), err.getvalue(), time.perf_counter() - t0, kind, detail)


def classify(o: Outcome) -> Outcome:
    """Set ``o.kind`` (module docstring) unless the run already failed or asked for help."""
    if o.kind:
        return o
    lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
    if "Traceback" in o.stderr:
        o.kind, o.detail = "traceback", o.stderr[-3000:]
    elif o.status == 0:
        o.kind = "ok"
    elif o.status == 130:
        o.kind = "interrupted"
    elif o.status == 2:
        if len(lines) == 1 and lines[0].startswith("sqdm: error: ") and len(lines[0]) > len("sqdm: error: "):
            o.kind = "error"
        else:
            o.kind, o.detail = "bad-error", o.stderr[-2000:]
    else:
        o.kind, o.detail = "bad-status", f"status {o.status}: {o.stderr[-2000:]}"
    return o


def record(o: Outcome) -> None:
    COUNTS[o.kind] += 1
    log = os.environ.get("SQDM_FUZZ_STATS")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"kind": o.kind, "seconds": round(o.seconds, 3)}) + "\n")


FAILURES = ("traceback", "hang", "bad-error", "bad-status", "invariant")


def assert_clean(o: Outcome) -> None:
    """Fail the test with the argv and the evidence if the outcome is a failure class."""
    assert o.kind not in FAILURES, f"{o.kind} for argv {o.argv!r}: {o.detail}"


# -- report invariants -------------------------------------------------------------------------------
def check_report_invariants(report_path: Path, argv: list[str]) -> str:
    """'' if the report written by ``sqdm simulate argv`` keeps the invariants, else what breaks:
    executed + skipped MACs == graph MACs; every node's cycles >= its roofline (executed MACs at the peak
    of its format, DRAM bytes moved at peak bandwidth), at every step."""
    from des.cli import build_parser
    from des.precision import mac_format
    from des.run import RunSpec, resolve_run
    d = json.loads(report_path.read_text())
    m = d["macs"]
    done = m["dense_executed_macs"] + m["sparse_executed_macs"] + m["skipped_macs"]
    if not math.isclose(done, m["graph_macs"], rel_tol=1e-9, abs_tol=1e-6):
        return f"executed + skipped MACs {done} != graph MACs {m['graph_macs']}"
    args = build_parser().parse_args(argv)
    spec = RunSpec(hw=args.hw, workload=args.workload, policy=args.policy, profile=args.profile, steps=args.steps,
                   batch=args.batch, cfg=args.cfg, resolution=args.resolution, activation=args.activation,
                   synthetic_mean=args.synthetic_mean, seed=args.seed, overrides=tuple(args.overrides))
    g, hw, _, steps = resolve_run(spec)
    bpc = hw.dram.bytes_per_cycle(hw.clock_ghz)
    cyc = np.asarray(d["node_cycles"], dtype=float)
    macs = np.asarray(d["node_executed_macs"], dtype=float)
    moved = np.asarray(d["node_dram_moved_bytes"], dtype=float)
    for i, n in enumerate(d["node_ids"]):
        nd = g.nodes[n]
        bound = moved[i] / bpc
        if nd["kind"] in ("conv", "linear", "matmul"):
            fmt = mac_format(nd)
            peak = sum(c.multipliers * c.rates.get(fmt, 0.0) for c in hw.clusters().values())
            bound = np.maximum(bound, macs[i] / peak)
        if np.any(cyc[i] < bound * (1 - 1e-9) - 1e-6):  # relative: absurd machines give 1e25 cycles
            return f"node '{n}': cycles {cyc[i].tolist()} below its roofline {np.asarray(bound).tolist()}"
    return ""


# -- small valid workload graphs ---------------------------------------------------------------------
def graph_doc_text(doc: dict) -> str:
    """A workload-file document as the JSON text sqdm writes."""
    return json.dumps(doc, separators=(",", ":"))


def _node(nid: str, op: str, kind: str, order: int, out_shape: list[int], in_shapes: list[list[int]], **kw) -> dict:
    d = {"id": nid, "op": op, "kind": kind, "module": nid.split(":")[0], "call": 0, "output_shape": out_shape,
         "output_elements": math.prod(out_shape), "input_shapes": in_shapes,
         "input_elements": sum(math.prod(s) for s in in_shapes), "model_input_elements": 0, "weight_elements": 0,
         "weight_shape": [], "params": [], "macs": 0, "in_channels": 0, "out_channels": 0, "reduction": 0,
         "sparse_eligible": False, "sparse_source": "", "order": order, "block": "b0", "block_index": 0,
         "mac_index": -1, "mac_index_from_end": -1}
    d.update(kw)
    return d


def small_graph(layers: list[tuple[str, int]], channels: int = 8, side: int = 4, name: str = "fuzz-net") -> dict:
    """A valid workload-file dict: a chain that starts with a conv on the model input, then one node per
    ``(kind, width)`` in ``layers`` (kinds: conv, relu, norm, add, linear, matmul, softmax, upsample, concat,
    mean, silu); a conv or linear right after a relu is sparse-eligible (it reads the ReLU's zeros)."""
    nodes, edges = [], []
    c, h = channels, side
    shape = [1, c, h, h]
    nodes.append(_node("conv_in:conv2d", "conv2d", "conv", 0, shape, [[1, 1, h, h]], model_input_elements=h * h,
                       weight_elements=c * 9 + c, macs=c * h * h * 9, in_channels=1, out_channels=c, reduction=9,
                       conv={"kernel": [3, 3], "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1,
                             "transposed": False}))
    prev, prev_kind = "conv_in:conv2d", "conv"
    for i, (kind, width) in enumerate(layers, start=1):
        nid = f"l{i}"
        c_in = shape[1] if len(shape) == 4 else shape[-1]
        elig = prev_kind == "relu"
        src = prev if elig else ""
        if kind == "conv":
            k = max(1, width)
            x = shape if len(shape) == 4 else [1, c_in, 1, 1]
            out = [1, k, x[2], x[3]]
            n = _node(f"{nid}:conv2d", "conv2d", "conv", i, out, [x], weight_elements=k * x[1] * 9 + k,
                      macs=math.prod(out) * x[1] * 9, in_channels=x[1], out_channels=k, reduction=x[1] * 9,
                      conv={"kernel": [3, 3], "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1,
                            "transposed": False}, sparse_eligible=elig, sparse_source=src)
        elif kind == "linear":
            k = max(1, width)
            m = math.prod(shape) // c_in
            out = [m, k]
            n = _node(f"{nid}:linear", "linear", "linear", i, out, [[m, c_in]], weight_elements=k * c_in + k,
                      macs=m * k * c_in, in_channels=c_in, out_channels=k, reduction=c_in, sparse_eligible=elig,
                      sparse_source=src)
        elif kind == "matmul":
            k = max(1, width)
            tokens = math.prod(shape) // c_in
            out = [1, tokens, k]
            n = _node(f"{nid}:matmul", "matmul", "matmul", i, out, [[1, tokens, c_in], [1, c_in, k]],
                      macs=tokens * k * c_in, in_channels=c_in, out_channels=k, reduction=c_in)
        elif kind in ("relu", "silu"):
            out = list(shape)
            n = _node(f"{nid}:{kind}", kind, "activation", i, out, [list(shape)])
        elif kind == "norm":
            out = list(shape)
            n = _node(f"{nid}:group_norm", "group_norm", "norm", i, out, [list(shape)], weight_elements=2 * c_in)
        elif kind == "add":
            out = list(shape)
            n = _node(f"{nid}:add", "add", "elementwise", i, out, [list(shape), list(shape)])
        elif kind == "softmax":
            out = list(shape)
            n = _node(f"{nid}:softmax", "softmax", "softmax", i, out, [list(shape)])
        elif kind == "upsample" and len(shape) == 4:
            out = [shape[0], shape[1], shape[2] * 2, shape[3] * 2]
            n = _node(f"{nid}:upsample", "upsample", "resample", i, out, [list(shape)])
        elif kind == "concat":
            out = list(shape[:-1]) + [shape[-1] * 2]
            n = _node(f"{nid}:concat", "concat", "concat", i, out, [list(shape), list(shape)])
        else:  # mean (and upsample of a 2-D tensor)
            out = list(shape[:-1]) + [1]
            n = _node(f"{nid}:mean", "mean", "reduce", i, out, [list(shape)])
        nodes.append(n)
        edges.append({"source": prev, "target": n["id"], "elements": math.prod(shape), "operands": [0],
                      "kind": "data"})
        prev, prev_kind, shape = n["id"], kind, out
    # MAC indices, as extraction sets them
    macs = [n for n in nodes if n["kind"] in ("conv", "linear", "matmul")]
    for j, n in enumerate(macs):
        n["mac_index"], n["mac_index_from_end"] = j, len(macs) - 1 - j
    total = sum(n["macs"] for n in nodes)
    return {"format": "sqdm-workload", "format_version": 1,
            "graph": {"directed": True, "multigraph": False,
                      "graph": {"format_version": 1, "model": name, "macs": total,
                                "config": {"resolution": side, "activation": "relu", "batch": 1, "cfg": False,
                                           "effective_batch": 1}},
                      "nodes": nodes, "edges": edges}}


# -- a scratch folder with the special paths the suite aims at ---------------------------------------
_WS: dict = {}


def workspace() -> dict:
    """Paths (created once per session): a folder, a FIFO, a symlink, a regular file, a small valid graph
    (``base.json``) with a 3-step profile, the tiny-digits graph and a counter for fresh names."""
    if _WS:
        return _WS
    import itertools
    import tempfile
    from workloads import build_workload, synthetic_profile, write_graph
    from workloads.graphio import graph_from_dict
    d = Path(tempfile.mkdtemp(prefix="sqdm-fuzz-"))
    import atexit
    import shutil
    atexit.register(shutil.rmtree, d, True)
    (d / "adir").mkdir()
    os.mkfifo(d / "fifo")
    (d / "file.txt").write_text("not a workload\n")
    os.symlink(d / "file.txt", d / "link.json")
    base = small_graph([("relu", 8), ("conv", 8), ("norm", 1), ("relu", 4), ("linear", 8), ("matmul", 4)])
    (d / "base.json").write_text(json.dumps(base))
    g = graph_from_dict(base)
    synthetic_profile(g, 3, seed=1).save(d / "base.profile.npz")
    td = build_workload("tiny-digits", activation="relu")
    write_graph(td, d / "td.json")
    _WS.update(dir=d, counter=itertools.count(), base_doc=base, base_graph=g)
    return _WS


def fresh(suffix: str) -> Path:
    """A new path in the workspace (nothing there yet)."""
    ws = workspace()
    return ws["dir"] / f"f{next(ws['counter'])}{suffix}"


def run_and_check(argv: list[str], report: Path | None = None, time_limit_s: float = TIME_LIMIT_S) -> Outcome:
    """Run, classify, check the report's invariants when ``simulate`` succeeded and wrote ``report``, record,
    and fail on any failure class."""
    o = classify(run_cli(argv, time_limit_s))
    if o.kind == "ok" and report is not None and argv and argv[0] == "simulate":
        if not report.exists():
            o.kind, o.detail = "invariant", f"exit 0 but {report} was not written"
        else:
            try:
                broken = check_report_invariants(report, argv)
            except Exception as e:  # noqa: BLE001 - re-resolving a run that just succeeded must work
                broken = f"re-resolving the run failed: {type(e).__name__}: {e}"
            if broken:
                o.kind, o.detail = "invariant", broken
    record(o)
    assert_clean(o)
    return o
