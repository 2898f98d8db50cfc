"""ActivityRecorder (busy cycles, timelines, scale) and EnergyModel / area sums."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from components import (
    ActivityRecorder,
    EnergyModel,
    load_energy_table,
    load_shipped_config,
    macs_counter,
    merge_intervals,
    parse_hardware_config,
    shipped_config_path,
)


def test_busy_cycles_union_and_sum():
    st = ActivityRecorder()
    st.record("a", "x", 0, 10)
    st.record("a", "y", 5, 15)  # overlaps
    st.record("a", "x", 20, 30)
    st.record("b", "x", 0, 100)
    assert st.busy_cycles("a") == 25
    assert st.busy_cycles_sum("a") == 30
    assert st.busy_cycles("a", kind="x") == 20
    assert st.busy_cycles("nobody") == 0
    with pytest.raises(ValueError):
        st.record("a", "x", 5, 4)


def test_utilization_timeline_values():
    st = ActivityRecorder()
    st.record("a", "x", 0, 10)
    st.record("a", "x", 15, 25)
    st.record("a", "x", 18, 22)
    starts, util = st.utilization_timeline("a", bin_cycles=10)
    assert list(starts) == [0, 10, 20]
    assert np.allclose(util, [1.0, 0.5, 0.5])
    starts, util = st.utilization_timeline("a", bin_cycles=10, end_cycle=40)
    assert np.allclose(util, [1.0, 0.5, 0.5, 0.0])
    assert st.utilization_timeline("none", 10)[1].sum() == 0


def test_merge_intervals():
    s, e = merge_intervals([5, 0, 20, 9], [10, 6, 25, 12])
    assert list(s) == [0, 20] and list(e) == [12, 25]


def test_recorder_handles_1e5_intervals():
    st = ActivityRecorder()
    rng = np.random.default_rng(0)
    starts = np.cumsum(rng.integers(1, 10, 100_000)).astype(float)
    for i, s in enumerate(starts):
        st.record("dense_cluster" if i % 2 else "sparse_cluster", "compute", s, s + 5)
    assert len(st) == 100_000
    busy = st.busy_cycles("dense_cluster")
    _, util = st.utilization_timeline("dense_cluster", bin_cycles=1000)
    assert util.sum() * 1000 == pytest.approx(busy)
    assert 0 <= util.min() and util.max() <= 1
    assert len(st.intervals("sparse_cluster")) == 50_000


def test_energy_table_scaling_rule():
    t = load_energy_table()
    f = (28 / 45) ** 2
    assert t.mac_pj["int4"] == pytest.approx((0.05 + 0.05) * f)
    assert t.mac_pj["fp16"] == pytest.approx((1.1 + 0.4) * f)
    assert t.dram_pj_per_bit["lpddr4"] == 8.0  # process independent
    # SRAM: the table points, per byte (64-bit accesses), and log-log in between
    assert t.sram_read_pj_per_byte(8192) == pytest.approx(10 * f / 8)
    assert t.sram_read_pj_per_byte(1 << 20) == pytest.approx(100 * f / 8)
    assert t.sram_read_pj_per_byte(16384) == pytest.approx(np.sqrt(10 * 20) * f / 8)
    assert t.sram_read_pj_per_byte(4096) < t.sram_read_pj_per_byte(8192)


def test_energy_sums_by_hand():
    hw = load_shipped_config("sqdm")
    em = EnergyModel(hw)
    t = em.table
    counters = {
        ("dram", "bytes_moved"): 1000,
        ("dram", "bursts"): 16,  # count only
        ("global_buffer", "read_bytes"): 200,
        ("global_buffer", "write_bytes"): 100,
        ("dense_cluster", macs_counter("int4_e4m3")): 1e6,
        ("dense_cluster", "noc_hops"): 2e6,
        ("sparse_cluster", macs_counter("uint4_e4m3")): 3e5,
        ("sparse_cluster", "metadata_bits"): 8000,
        ("sparse_cluster.local_buffer", "read_bytes"): 50,
        ("vector_unit", "ops"): 10,
        ("detector", "label_updates"): 4,
        ("detector", "zero_count_elements"): 400,
        ("detector", "wrong_labels"): 2,
    }
    e = em.energy_pj(counters, elapsed_cycles=1000)
    gb = t.sram_read_pj_per_byte(hw.global_buffer.capacity_bytes / hw.global_buffer.banks)
    sl = t.sram_read_pj_per_byte(hw.sparse_cluster.local_buffer.bank_bytes)
    assert e.dynamic_pj["dram"] == pytest.approx(1000 * 8 * 8.0)
    assert e.dynamic_pj["global_buffer"] == pytest.approx(300 * gb)
    assert e.dynamic_pj["dense_cluster"] == pytest.approx(1e6 * t.mac_pj["int4_e4m3"] + 2e6 * t.noc_hop_pj)
    assert e.dynamic_pj["sparse_cluster"] == pytest.approx(3e5 * t.mac_pj["uint4_e4m3"] + 8000 * sl / 8)
    assert e.dynamic_pj["sparse_cluster.local_buffer"] == pytest.approx(50 * sl)
    assert e.dynamic_pj["vector_unit"] == pytest.approx(10 * t.vector_op_pj)
    assert e.dynamic_pj["detector"] == pytest.approx(4 * t.label_update_pj_per_channel + 400 * t.zero_count_pj_per_element)
    assert e.unpriced == ()
    # static: mW x ns = pJ; area-based leakage + DRAM background
    area = hw.area_mm2().by_component
    assert e.static_pj["global_buffer"] == pytest.approx(area["global_buffer"] * t.leakage_mw_per_mm2 * 1000)
    assert e.static_pj["dram"] == pytest.approx(t.dram_background_mw_per_channel * hw.dram.channels * 1000)
    assert e.total_pj == pytest.approx(sum(e.dynamic_pj.values()) + sum(e.static_pj.values()))
    assert e.total_pj == pytest.approx(sum(e.by_component_pj.values()))


def test_unpriced_counters_are_reported_and_overrides_apply():
    d = yaml.safe_load(shipped_config_path("sqdm").read_text())
    d["energy"]["static_power_mw"] = {"global_buffer": 7.0}
    d["global_buffer"]["read_energy_pj_per_byte"] = 2.0
    hw = parse_hardware_config(d)
    e = EnergyModel(hw).energy_pj({("global_buffer", "read_bytes"): 10, ("dense_cluster", "macs.int9"): 5}, 2000)
    assert e.dynamic_pj["global_buffer"] == 20.0
    assert e.static_pj["global_buffer"] == pytest.approx(7.0 * 2000)
    assert e.unpriced == (("dense_cluster", "macs.int9"),)


def test_fp16_mac_costs_more_than_int4_and_dram_dominates_sram():
    t = load_energy_table()
    assert t.mac_pj["fp16"] > 10 * t.mac_pj["int4"]
    assert t.mac_pj["int4"] < t.mac_pj["int4_e4m3"] < t.mac_pj["int8"] <= t.mac_pj["mxint8"]
    assert 8 * t.dram_pj_per_bit["lpddr4"] > 5 * t.sram_read_pj_per_byte(1 << 20)


def test_area_breakdown_parts_sum():
    a = load_shipped_config("sqdm").area_mm2()
    assert a.total_mm2 == pytest.approx(sum(a.by_component.values()))
    assert a["dense_cluster"] == pytest.approx(a["dense_cluster.multipliers"] + a["dense_cluster.interconnect"])
    assert a["sparse_cluster"] > a["dense_cluster"]  # Benes + bitmap logic


def test_every_counter_the_components_write_is_priced_or_a_plain_count():
    import simpy

    from components import Buffer, DensePECluster, Dram, SparsePECluster, SparsityDetector, VectorUnit

    hw = load_shipped_config("sqdm")
    env, st = simpy.Environment(), ActivityRecorder()
    gens = [
        Dram(env, hw.dram, hw.clock_ghz, st).transfer(4096),
        Buffer(env, hw.global_buffer, st).read(512),
        Buffer(env, hw.global_buffer, st).write(512),
        Buffer(env, hw.dense_cluster.local_buffer, st, name="dense_cluster.local_buffer").read(64),
        DensePECluster(env, hw.dense_cluster, st).compute(1e4, "mxint8"),
        SparsePECluster(env, hw.sparse_cluster, st).compute(1e4, 0.3, "uint4_e4m3", bitmap_elems=100),
        VectorUnit(env, hw.vector_unit, st).compute(100, "silu"),
    ]
    det = SparsityDetector(env, hw.detector, st)
    gens.append(det.observe("l", 0, np.full(8, 0.5), elements=800))
    for g in gens:
        env.process(g)
    env.run()
    det.labels("l", 1, np.full(8, 0.1))
    e = EnergyModel(hw).energy_pj(st, env.now)
    assert e.unpriced == ()
    for comp in ("dram", "global_buffer", "dense_cluster.local_buffer", "dense_cluster", "sparse_cluster", "vector_unit", "detector"):
        assert e.dynamic_pj[comp] > 0, comp


def test_components_import_nothing_above_them():
    import subprocess
    import sys

    code = "import sys, components; bad = [m for m in ('des', 'workloads', 'quant', 'torch', 'plots') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stdout + r.stderr


def _reference_insert_gap(rec, cut, gap):
    """The gap insertion spelled out record by record (what insert_gaps must do in one pass)."""
    n = len(rec._start)
    for i in range(n):
        s, e = rec._start[i], rec._end[i]
        if s >= cut:
            rec._start[i], rec._end[i] = s + gap, e + gap
        elif e > cut:
            rec._end[i] = cut
            rec.record(rec._component[i], rec._kind[i], cut + gap, e + gap, rec._tag[i])


@pytest.mark.parametrize("seed", range(6))
def test_insert_gaps_is_sequential_busy_fraction_then_gap(seed):
    rng = np.random.default_rng(seed)
    a, b = ActivityRecorder(), ActivityRecorder()
    for _ in range(int(rng.integers(5, 60))):
        s = float(rng.integers(0, 1000))
        e = s + float(rng.integers(0, 300))
        comp = ["dram", "dense_cluster", "global_buffer"][int(rng.integers(0, 3))]
        for r in (a, b):
            r.record(comp, "k", s, e, "t")
    cuts = np.sort(rng.choice(np.arange(1, 1000), size=int(rng.integers(1, 5)), replace=False)).tolist()
    spans = [(float(c), float(rng.integers(0, 500)), float(rng.integers(1, 50))) for c in cuts]
    windows = a.insert_gaps(spans)
    shift = 0.0
    for (cut, gap, width), got in zip(spans, windows):
        assert got == b.busy_fraction(cut + shift - width, cut + shift)
        _reference_insert_gap(b, cut + shift, gap)
        shift += gap
    assert a._start == b._start and a._end == b._end
    assert a._component == b._component and a._kind == b._kind and a._tag == b._tag


def test_union_length_is_the_merged_sum_bit_for_bit():
    from components.stats import merge_intervals, union_length
    rng = np.random.default_rng(1)
    for trial in range(3000):
        n = int(rng.integers(1, 14))
        s = (rng.random(n) * 1000).tolist()
        e = [a + float(rng.random() * rng.choice([1, 100, 1e6])) for a in s]
        if trial % 3 == 0:
            s = [round(x, 1) for x in s]
        ms, me = merge_intervals(s, e)
        assert union_length(s, e) == float(np.sum(me - ms))
