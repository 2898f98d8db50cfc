"""The engine's faster paths change no result: fast-forward inside runs of identical tiles, the buffer's
event-free allocation, the tiling search's candidate copies."""
import dataclasses

import numpy as np
import pytest
import simpy

import des.machine as machine_mod
from components import Buffer, BufferConfig
from des import simulate
from des.mapping import _with, plan_graph
from des.residency import plan_residency
from des.run import load_hardware

from des_helpers import graph, profile


def test_fast_forward_inside_runs_changes_nothing(monkeypatch):
    """A 64 KiB global buffer cuts ddpm-cifar10's layers into many chunks per band: fast-forward then skips
    inside each band's run of identical tiles (several spans per node, per-step channel masks). Every node
    and every counter must come out as when every tile runs as events."""
    chose = []

    def spy(tiles, period, warmup, depth):
        r = original(tiles, period, warmup, depth)
        chose.append(r)
        return r

    original = machine_mod._prefer_runs
    monkeypatch.setattr(machine_mod, "_prefer_runs", spy)
    hw = load_hardware("sqdm", ("global_buffer.capacity_bytes=65536",))
    g, prof = graph("ddpm-cifar10", "sqdm"), profile("ddpm-cifar10", 2)
    on = simulate(g, hw, steps=2, profile=prof, progress=False)
    assert sum(chose) >= 10  # the run-level path was taken on many nodes
    off = simulate(g, hw, steps=2, profile=prof, progress=False, fast_forward=False)
    assert np.all(np.abs(on.node_cycles - off.node_cycles) <= 0.005 * np.maximum(off.node_cycles, 1.0))
    assert on.counters.keys() == off.counters.keys()
    for k, v in off.counters.items():
        assert on.counters[k] == pytest.approx(v, rel=1e-12, abs=1e-9), k
    assert on.events < off.events / 2


def test_runs_of_identical_tiles():
    a, b = object(), object()

    class T:  # a tile: only its memo's identity matters
        def __init__(self, memo):
            self.memo = memo

    tiles = [T(a), T(b), T(b), T(b), T(a), T(a)]
    assert machine_mod._run_ends(tiles) == [0, 3, 3, 3, 5, 5]
    many = [T(a)] + [T(b)] * 60 + [T(a)]
    assert machine_mod._prefer_runs(many * 4, period=62, warmup=2, depth=2)  # long runs: skip inside them
    assert not machine_mod._prefer_runs([T(a), T(b)] * 16, period=2, warmup=2, depth=2)  # short: whole periods


def test_candidate_copy_is_dataclasses_replace():
    g = graph("tiny-digits", "int4")
    hw = load_hardware("int4-dense")
    plan = next(p for p in plan_graph(g, hw, plan_residency(g, hw)).values() if p.kind == "mac")
    changes = dict(bands=3, chunks=5, tile_footprint_bytes=123.5, prefetch_host="")
    assert _with(plan, **changes) == dataclasses.replace(plan, **changes)
    assert hash(_with(plan, **changes)) == hash(dataclasses.replace(plan, **changes))
    with pytest.raises(TypeError, match="no_such_field"):
        _with(plan, no_such_field=1)


def test_try_allocate_fifo():
    """Granted at once when there is room and nobody waits (no event); else queued in order, granted by
    releases in order, a large request never overtaken by later small ones."""
    env = simpy.Environment()
    buf = Buffer(env, BufferConfig(capacity_bytes=1000, ports=1, bytes_per_cycle_per_port=16, double_buffered=False))
    assert buf.try_allocate(600) is None and buf.allocated_bytes == 600
    big = buf.try_allocate(500)
    small = buf.try_allocate(100)  # would fit, but waits behind big
    assert big is not None and small is not None and buf.allocated_bytes == 600
    buf.release(600)
    assert big.triggered and small.triggered and buf.allocated_bytes == 600
    assert buf.peak_allocated_bytes == 600
    assert buf.stats.counter("global_buffer", "allocations") == 3
    with pytest.raises(ValueError):
        buf.release(601)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["adm-imagenet64", "sd15-unet"])
@pytest.mark.parametrize("hwname", ["sqdm", "int4-dense", "int4vsq-dense", "fp16-dense"])
def test_fast_forward_changes_nothing_on_the_large_models(model, hwname):
    """The rest of the zoo (the small models run in CI: test_fidelity.py), one evaluation each."""
    from des_helpers import HW_POLICY
    g = graph(model, HW_POLICY[hwname])
    prof = profile(model, 1) if hwname == "sqdm" else None
    hw = load_hardware(hwname)
    on = simulate(g, hw, steps=1, profile=prof, progress=False)
    off = simulate(g, hw, steps=1, profile=prof, progress=False, fast_forward=False)
    assert np.all(np.abs(on.node_cycles - off.node_cycles) <= 0.005 * np.maximum(off.node_cycles, 1.0))
    assert on.counters.keys() == off.counters.keys()
    for k, v in off.counters.items():
        assert on.counters[k] == pytest.approx(v, rel=1e-12, abs=1e-9), k
    assert on.events <= off.events


@pytest.mark.parametrize("model, steps", [("tiny-digits", 12), ("ddpm-cifar10", 6)])
def test_schedule_reuse_across_steps_changes_nothing(monkeypatch, model, steps):
    """A sparse node whose step's work leaves every tile's phase cycles as at an earlier step reuses that
    step's schedule (des.engine.TimingMemo) and adds its own counters: the report must be the one of a run
    that simulates every such node at every step, bit for bit (but for the events it saves). On ddpm-cifar10
    reused schedules include nodes that host the next node's weight prefetch and nodes of several bands.
    (``reuse=False`` also turns off the replay of step-independent nodes, whose segments add their counters
    as one sum: totals may then differ in the last digit, so the memo alone is switched off here.)"""
    import json

    from des.engine import TimingMemo

    hits = []
    get, key = TimingMemo.get, TimingMemo.key

    def spy(self, k):
        entry = get(self, k)
        if k is not None:
            node, period, prefetch_bytes, _ = k
            hits.append((entry is not None, prefetch_bytes > 0, period > 1))
        return entry

    monkeypatch.setattr(TimingMemo, "get", spy)
    hw = load_hardware("sqdm")
    g, prof = graph(model, "sqdm"), profile(model, steps)
    on = simulate(g, hw, steps=steps, profile=prof, progress=False)
    reused = [h for h in hits if h[0]]
    assert len(reused) >= 5  # schedules were reused
    if model == "ddpm-cifar10":
        assert any(h[1] for h in reused) and any(h[2] for h in reused)
    hits.clear()
    monkeypatch.setattr(TimingMemo, "key", lambda self, *a: None)  # every schedule simulated
    off = simulate(g, hw, steps=steps, profile=prof, progress=False)
    assert hits == []
    monkeypatch.setattr(TimingMemo, "key", key)

    def doc(r):
        d = r.to_dict()
        d.pop("wall_seconds", None)
        d.pop("events", None)
        return json.dumps(d, sort_keys=True)

    assert doc(on) == doc(off)
    assert on.events < off.events


@pytest.mark.parametrize("channels,placement", [(96, "balanced"), (1280, "balanced"), (96, "threshold")])
def test_placing_many_steps_at_once_is_placing_each_alone(channels, placement):
    """The wrong-label oracle places a run's steps in one call, a row each; every row must be the split of that
    step alone, bit for bit: ties in the estimates, estimates outside [0, 1], rows with every or no channel
    labelled, the balanced refinement with the node's mapping efficiencies, and the threshold rule."""
    from components.placement import ChannelOrder
    from des.work import place_channels

    hw = load_hardware("sqdm", (f"detector.placement={placement}",))
    g = graph("ddpm-cifar10", "sqdm")
    plan = next(p for p in plan_graph(g, hw, plan_residency(g, hw)).values() if p.kind == "mac" and p.sparse_eligible)
    plan = dataclasses.replace(plan, in_channels=channels)
    rng = np.random.default_rng(7)
    est = rng.uniform(-0.1, 1.05, size=(9, channels))
    est[1] = np.round(est[1], 1)  # many ties
    est[2] = 0.5  # all tied
    lab = est > 0.4
    lab[3], lab[4] = True, False
    est[5, ::7] = np.nan  # the lexsort's path for NaN
    many = place_channels(plan, hw, lab, est)
    assert many.shape == lab.shape and 0 < many.sum() < many.size
    for r in range(len(lab)):
        assert np.array_equal(many[r], place_channels(plan, hw, lab[r], est[r])), r
    if placement == "threshold":  # the labels themselves
        assert np.array_equal(many, lab)
        return
    order = ChannelOrder(lab, est, 1.1)
    for r in range(len(lab)):
        assert np.array_equal(order.order[r], ChannelOrder(lab[r], est[r], 1.1).order), r
    peaks = np.linspace(500.0, 1500.0, len(lab))
    rows = order.split(peaks, peaks[::-1])
    for r in range(len(lab)):
        assert np.array_equal(rows[r], ChannelOrder(lab[r], est[r], 1.1).split(peaks[r], peaks[::-1][r])), r
