"""Pure cost functions: hand-computed values and monotonicity properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import (
    DenseClusterConfig,
    DramConfig,
    SparseClusterConfig,
    UnsupportedFormatError,
    VectorUnitConfig,
    buffer_access_cycles,
    channel_subset_pattern,
    dense_compute_cycles,
    dram_access_cost,
    load_shipped_config,
    maeri_mapping_utilization,
    sparse_compute_cycles,
    vector_cycles,
    vector_ops,
    BufferConfig,
)


def dram(**kw) -> DramConfig:
    # 2 channels x 4 banks, page-granular channel interleave: a stripe (one row in each channel) is 2 KiB;
    # activations in one channel at least max(20 / 4 banks, 8) = 8 cycles apart
    base = dict(
        technology="lpddr4", channels=2, bandwidth_gbytes_per_s=64.0, burst_bytes=32, row_bytes=1024,
        banks=4, channel_interleave_bytes=1024, row_hit_latency_cycles=10, row_miss_penalty_cycles=20,
        row_activation_interval_cycles=8, address_mapping="channel_last",
    )
    base.update(kw)
    return DramConfig.model_validate(base)


LOCAL = dict(capacity_bytes=4096, ports=1, bytes_per_cycle_per_port=16, double_buffered=False)


def dense(**kw) -> DenseClusterConfig:
    base = dict(multipliers=64, distribution_bw_elems_per_cycle=16, reduction_bw_elems_per_cycle=8,
                local_buffer=LOCAL, rates={"int4": 1.0, "mxint8": 0.5}, noc_hops_per_mac=1.0)
    base.update(kw)
    return DenseClusterConfig.model_validate(base)


def sparse(**kw) -> SparseClusterConfig:
    base = dict(multipliers=64, distribution_bw_elems_per_cycle=16, reduction_bw_elems_per_cycle=8,
                local_buffer=LOCAL, rates={"uint4_e4m3": 1.0, "mxint8": 0.5}, noc_hops_per_mac=2.0,
                bitmap_bits_per_element=1.0, metadata_bw_bits_per_cycle=32, load_imbalance=1.25)
    base.update(kw)
    return SparseClusterConfig.model_validate(base)


# ---- DRAM --------------------------------------------------------------------------------------
def test_dram_contiguous_hand_value():
    # 4096 B = 128 bursts of 32 B = 2 stripes = 4 rows of 1 KiB (2 per channel); 64 B/cycle.
    # Open page: latency 10 + the first activation 20, then data 4096 / 64 = 64 cycles hide the second
    # activation of each channel (1 x 8 cycles)
    c = dram_access_cost(4096, 1, 4096, dram(), clock_ghz=1.0)
    assert c == (10 + 20 + max(4096 / 64, (4 / 2 - 1) * 8), 128, 4, 4096)
    assert c.cycles == 94


def test_dram_scattered_runs_hand_value():
    # 8 runs of 100 B far apart: 4 bursts each (128 B moved each), one row each (8 pattern jumps), 4 per
    # channel; data 1024 / 64 = 16 cycles < activations (4 - 1) x 8 = 24: activation bound
    c = dram_access_cost(800, 8, 100, dram(), clock_ghz=1.0)
    assert (c.bursts, c.row_misses, c.bytes_moved) == (32, 8, 1024)
    assert c.cycles == pytest.approx(10 + 20 + (8 / 2 - 1) * 8)


def test_dram_close_runs_share_bursts_and_rows():
    # 64 runs of 8 B every 16 B: span 1016 B -> 32 bursts, 1 row (its first 1024 B chunk)
    c = dram_access_cost(512, 64, 8, dram(), clock_ghz=1.0, stride_bytes=16)
    assert (c.bursts, c.row_misses, c.bytes_moved) == (32, 1, 1024)
    assert c.cycles == pytest.approx(10 + 20 + 1024 / 64)


def test_dram_clock_and_zero_and_errors():
    # at 2 GHz the same GB/s are half the bytes per cycle (latencies are given in cycles)
    assert dram_access_cost(4096, 1, 4096, dram(), clock_ghz=2.0).cycles == 10 + 20 + 4096 / 32
    assert dram_access_cost(0, 0, 0, dram(), clock_ghz=1.0) == (0.0, 0, 0, 0)
    with pytest.raises(ValueError, match="do not fit"):
        dram_access_cost(1000, 2, 100, dram(), clock_ghz=1.0)


@pytest.mark.parametrize("hw,w,c,sel", [(32, 32, 128, 40), (64, 64, 128, 40), (16, 16, 256, 100), (64, 64, 64, 10)])
def test_channel_last_subset_cheaper_than_interleaved(hw, w, c, sel):
    cfg = load_shipped_config("sqdm").dram
    costs = {}
    for mapping in ("channel_last", "interleaved"):
        useful, p = channel_subset_pattern(hw, w, c, sel, 0.5, mapping, cfg.burst_bytes)
        assert useful == hw * w * sel * 0.5
        costs[mapping] = dram_access_cost(useful, p.runs, p.run_bytes, cfg, clock_ghz=1.0, stride_bytes=p.stride_bytes)
    cl, il = costs["channel_last"], costs["interleaved"]
    assert cl.cycles < il.cycles and cl.bytes_moved < il.bytes_moved and cl.bursts < il.bursts
    assert cl.row_misses <= il.row_misses
    if hw * w * 0.5 >= cfg.row_bytes:  # channel planes at least a DRAM row: fewer row misses too
        assert cl.row_misses < il.row_misses


def test_full_tensor_same_cost_under_both_mappings():
    cfg = load_shipped_config("sqdm").dram
    costs = []
    for mapping in ("channel_last", "interleaved"):
        useful, p = channel_subset_pattern(32, 32, 128, 128, 0.5, mapping, cfg.burst_bytes)
        costs.append(dram_access_cost(useful, p.runs, p.run_bytes, cfg, clock_ghz=1.0, stride_bytes=p.stride_bytes))
    assert costs[0] == costs[1]


@settings(max_examples=200, deadline=None)
@given(
    bw=st.floats(1.0, 1000.0), factor=st.floats(1.0, 10.0), channels=st.integers(1, 8),
    runs=st.integers(1, 500), run_bytes=st.floats(0.5, 1e5), stride=st.one_of(st.none(), st.floats(0.5, 1e5)),
)
def test_more_bandwidth_never_slower(bw, factor, channels, runs, run_bytes, stride):
    slow = dram(bandwidth_gbytes_per_s=bw, channels=channels)
    fast = dram(bandwidth_gbytes_per_s=bw * factor, channels=channels)
    a = dram_access_cost(runs * run_bytes, runs, run_bytes, slow, clock_ghz=1.0, stride_bytes=stride)
    b = dram_access_cost(runs * run_bytes, runs, run_bytes, fast, clock_ghz=1.0, stride_bytes=stride)
    assert b.cycles <= a.cycles
    assert (a.bursts, a.row_misses, a.bytes_moved) == (b.bursts, b.row_misses, b.bytes_moved)
    assert a.bytes_moved >= runs * run_bytes or stride is not None


# ---- buffer / vector -----------------------------------------------------------------------------
def test_buffer_access_cycles():
    cfg = BufferConfig.model_validate(LOCAL)
    assert buffer_access_cycles(0, cfg) == 0
    assert buffer_access_cycles(16, cfg) == 1
    assert buffer_access_cycles(17, cfg) == 2


def test_vector_cycles_hand_value():
    cfg = VectorUnitConfig(lanes=8, ops_per_lane_per_cycle=2.0, ops_per_element={"softmax": 5.0})
    assert vector_ops(100, "softmax", cfg) == 500
    assert vector_cycles(500, cfg) == math.ceil(500 / 16) == 32
    with pytest.raises(ValueError, match="gelu"):
        vector_ops(1, "gelu", cfg)


# ---- dense ---------------------------------------------------------------------------------------
def test_dense_cycles_hand_values():
    cfg = dense()
    assert dense_compute_cycles(6400, "int4", cfg) == 100  # 6400 / 64
    assert dense_compute_cycles(6400, "mxint8", cfg) == 200  # half rate
    assert dense_compute_cycles(6400, "int4", cfg, 0.5) == 200
    assert dense_compute_cycles(6401, "int4", cfg) == 101  # ceil
    assert dense_compute_cycles(0, "int4", cfg) == 0
    # network bounds: 3200 elements at 16/cycle = 200 cycles > 100 compute
    assert dense_compute_cycles(6400, "int4", cfg, distributed_elems=3200) == 200
    assert dense_compute_cycles(6400, "int4", cfg, reduced_elems=1600) == 200


def test_dense_unsupported_format_names_format_and_cluster():
    with pytest.raises(UnsupportedFormatError) as ei:
        dense_compute_cycles(10, "fp16", dense())
    assert "fp16" in str(ei.value) and "dense_cluster" in str(ei.value)
    assert isinstance(ei.value, ValueError)
    with pytest.raises(ValueError):
        dense_compute_cycles(10, "int4", dense(), 0.0)


def test_maeri_mapping_utilization_hand_values():
    # R fits exactly: 16 VNs of 64 fill 1024 multipliers
    assert maeri_mapping_utilization(64, 1000, 1024) == 1.0
    # one output only, R = 1152 > 1024: best is VN of 576 in 2 folds -> 1152 / 2048
    assert maeri_mapping_utilization(1152, 1, 1024) == pytest.approx(1152 / 2048)
    # R = 27 (3x3x3 first conv), only 16 outputs in parallel: 16 VNs of 27 in one fold
    assert maeri_mapping_utilization(27, 16, 1024) == pytest.approx(16 * 27 / 1024)
    # ... with >= 1024 outputs, VNs of one multiplier (output stationary) fill the array
    assert maeri_mapping_utilization(27, 10_000, 1024) == 1.0
    # 3 outputs, R = 1152: VN 384, 3 folds, 2 VNs fit -> 0.75; VN 342 -> 4 folds, 2 VNs (3*342 > 1024)...
    u = maeri_mapping_utilization(1152, 3, 1024)
    assert 0.75 <= u <= 1.0
    with pytest.raises(ValueError):
        maeri_mapping_utilization(0, 1, 1)


@settings(max_examples=100, deadline=None)
@given(r=st.integers(1, 5000), p=st.integers(1, 5000), n=st.integers(1, 2048))
def test_maeri_mapping_utilization_in_range(r, p, n):
    u = maeri_mapping_utilization(r, p, n)
    assert 0.0 < u <= 1.0
    assert maeri_mapping_utilization(r, p + 1, n) >= u  # more independent outputs never hurt


# ---- sparse --------------------------------------------------------------------------------------
def test_sparse_cycles_hand_values():
    cfg = sparse()
    # 6400 MACs x 0.5 density x 1.25 imbalance / 64 = 62.5 -> 63
    assert sparse_compute_cycles(6400, 0.5, "uint4_e4m3", cfg) == 63
    assert sparse_compute_cycles(6400, 0.5, "mxint8", cfg) == 125
    # metadata bound: 8000 bitmap bits at 32 bits/cycle = 250 cycles
    assert sparse_compute_cycles(6400, 0.5, "uint4_e4m3", cfg, bitmap_elems=8000) == 250
    assert sparse_compute_cycles(6400, 0.0, "uint4_e4m3", cfg) == 0
    with pytest.raises(UnsupportedFormatError, match="sparse_cluster"):
        sparse_compute_cycles(1, 0.5, "int4", cfg)
    with pytest.raises(ValueError):
        sparse_compute_cycles(1, 1.5, "uint4_e4m3", cfg)


@settings(max_examples=300, deadline=None)
@given(
    macs=st.floats(0, 1e9), d1=st.floats(0, 1), d2=st.floats(0, 1), bitmap=st.floats(0, 1e7),
    imb=st.floats(1, 3), mult=st.integers(1, 4096),
)
def test_sparse_never_slower_with_more_zeros(macs, d1, d2, bitmap, imb, mult):
    cfg = sparse(load_imbalance=imb, multipliers=mult)
    lo, hi = sorted((d1, d2))
    # fewer non-zeros also means fewer non-zeros to distribute
    a = sparse_compute_cycles(macs, lo, "uint4_e4m3", cfg, bitmap_elems=bitmap, distributed_elems=bitmap * lo)
    b = sparse_compute_cycles(macs, hi, "uint4_e4m3", cfg, bitmap_elems=bitmap, distributed_elems=bitmap * hi)
    assert a <= b


def test_sparse_beats_dense_only_when_sparse_enough():
    hw = load_shipped_config("sqdm")
    macs = 1e8
    d = dense_compute_cycles(macs, "uint4_e4m3", hw.dense_cluster)
    assert sparse_compute_cycles(macs, 0.35, "uint4_e4m3", hw.sparse_cluster) < d
    assert sparse_compute_cycles(macs, 1.0, "uint4_e4m3", hw.sparse_cluster) > d  # load imbalance
