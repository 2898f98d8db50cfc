"""DRAM open-page model: sequential streams near the bandwidth bound, strided patterns, bank parallelism,
channel_last vs interleaved subsets, config validation and activation energy (components/dram.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import simpy
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components import (
    ActivityRecorder,
    AccessPattern,
    ConfigError,
    Dram,
    DramConfig,
    EnergyModel,
    channel_subset_pattern,
    dram_access_cost,
    load_hardware_config,
    load_shipped_config,
    parse_hardware_config,
    shipped_config_path,
)
from components.dram import dram_access_breakdown, rows_touched

KIB = 1024
MIB = 1024 * KIB


@pytest.fixture(scope="module")
def sqdm():
    return load_shipped_config("sqdm")


def bound_cycles(nbytes: float, cfg: DramConfig, clock_ghz: float) -> float:
    """Bandwidth bound: bytes / peak bytes per cycle."""
    return nbytes / cfg.bytes_per_cycle(clock_ghz)


# ---- sequential streams ----------------------------------------------------------------------------
@pytest.mark.parametrize("nbytes", [64 * KIB, MIB])
def test_sequential_stream_near_bandwidth_bound(sqdm, nbytes):
    cfg = sqdm.dram
    c = dram_access_cost(nbytes, 1, nbytes, cfg, clock_ghz=sqdm.clock_ghz)
    bound = bound_cycles(nbytes, cfg, sqdm.clock_ghz)
    first_access_cycles = cfg.row_hit_latency_cycles + cfg.row_miss_penalty_cycles
    # every 2 KiB page is still activated (and counted) once ...
    assert c.row_misses == nbytes // cfg.row_bytes
    # ... but only the first activation is exposed: the rest open in other banks while data streams
    assert c.cycles == pytest.approx(bound + first_access_cycles)
    assert c.cycles - first_access_cycles <= 1.05 * bound
    if nbytes >= MIB:
        assert c.cycles <= 1.05 * bound  # 10296 vs 10240 cycles: +0.55%


def test_sequential_stream_hand_value(sqdm):
    # 1 MiB on sqdm: 102.4 B/cycle -> 10240 data cycles; 512 pages, 128 per channel, activations
    # max(36 / 8 banks, 10) = 10 cycles apart need 127 x 10 = 1270 < 10240 cycles: hidden
    t = dram_access_breakdown(MIB, 1, MIB, sqdm.dram, clock_ghz=1.0)
    assert (t.bursts, t.row_misses, t.bytes_moved) == (16384, 512, MIB)
    assert (t.latency_cycles, t.data_cycles, t.activation_cycles) == (20 + 36, 10240, 127 * 10)
    assert t.cycles == 10296 and t.overhead_cycles == 56


# ---- strided patterns --------------------------------------------------------------------------------
def test_strided_pattern_hand_value(sqdm):
    # 64 runs of one 64 B burst, 4096 B apart: every other 2 KiB page, one run per page.
    # Rows: 64 runs x 1 page (the span would allow 31 x 4 + 3 = 127), 16 per channel.
    # Data 4096 / 102.4 = 40 cycles; activations 15 x max(36 / 8, 10) = 150 cycles: activation bound.
    cfg = sqdm.dram
    t = dram_access_breakdown(4096, 64, 64, cfg, clock_ghz=1.0, stride_bytes=4096)
    assert (t.bursts, t.row_misses, t.bytes_moved) == (64, 64, 4096)
    assert rows_touched(63 * 4096 + 64, cfg) == 31 * 4 + 3
    assert t.data_cycles == pytest.approx(40) and t.activation_cycles == 150
    assert t.cycles == pytest.approx(20 + 36 + 150)
    # the same 4096 bytes as one sequential run: 2 pages, data bound
    seq = dram_access_cost(4096, 1, 4096, cfg, clock_ghz=1.0)
    assert (seq.row_misses, seq.cycles) == (2, pytest.approx(20 + 36 + 40))
    # one bank per channel: nothing overlaps, every activation waits for the previous one (36 cycles)
    one_bank = cfg.model_copy(update={"banks": 1})
    assert dram_access_cost(4096, 64, 64, one_bank, clock_ghz=1.0, stride_bytes=4096).cycles == pytest.approx(
        20 + 36 + 15 * 36
    )


def test_close_runs_share_rows(sqdm):
    # runs 512 B apart (stride < row): four runs share each 2 KiB page
    cfg = sqdm.dram
    c = dram_access_cost(64 * 64, 64, 64, cfg, clock_ghz=1.0, stride_bytes=512)
    span = 63 * 512 + 64
    assert c.row_misses == rows_touched(span, cfg) == 16 == math.ceil(span / cfg.row_bytes)


def _dram(**kw) -> DramConfig:
    base = dict(
        technology="lpddr4", channels=4, bandwidth_gbytes_per_s=102.4, burst_bytes=64, row_bytes=2048, banks=8,
        channel_interleave_bytes=2048, row_hit_latency_cycles=20, row_miss_penalty_cycles=36,
        row_activation_interval_cycles=10, address_mapping="channel_last",
    )
    base.update(kw)
    return DramConfig.model_validate(base)


CONFIGS = st.builds(
    lambda channels, interleave_log2, banks, interval: _dram(
        channels=channels, channel_interleave_bytes=64 << interleave_log2, banks=banks,
        row_activation_interval_cycles=interval,
    ),
    channels=st.integers(1, 8), interleave_log2=st.integers(0, 5), banks=st.integers(1, 16),
    interval=st.floats(0.0, 40.0),
)


@settings(max_examples=300, deadline=None)
@given(cfg=CONFIGS, runs=st.integers(1, 300), run_bytes=st.floats(1.0, 1e5), split=st.integers(2, 16),
       far=st.booleans())
def test_more_shorter_runs_far_apart_never_cheaper(cfg, runs, run_bytes, split, far):
    """Splitting each run into `split` shorter runs far apart (pattern jumps): never fewer row misses,
    bursts or cycles."""
    if far:  # runs in rows of their own
        stride_a = stride_b = None
    else:  # runs more than a stripe apart
        stride_a = stride_b = cfg.channels * cfg.row_bytes + run_bytes
    nbytes = runs * run_bytes
    a = dram_access_cost(nbytes, runs, run_bytes, cfg, clock_ghz=1.0, stride_bytes=stride_a)
    b = dram_access_cost(nbytes, runs * split, run_bytes / split, cfg, clock_ghz=1.0, stride_bytes=stride_b)
    assert b.row_misses >= a.row_misses
    assert b.bursts >= a.bursts
    assert b.cycles >= a.cycles - 1e-9


@settings(max_examples=300, deadline=None)
@given(cfg=CONFIGS, extra_banks=st.integers(1, 16), runs=st.integers(1, 500), run_bytes=st.floats(0.5, 1e5),
       stride=st.one_of(st.none(), st.floats(0.0, 1e5)))
def test_more_banks_never_slower(cfg, extra_banks, runs, run_bytes, stride):
    more = cfg.model_copy(update={"banks": cfg.banks + extra_banks})
    a = dram_access_cost(runs * run_bytes, runs, run_bytes, cfg, clock_ghz=1.0, stride_bytes=stride)
    b = dram_access_cost(runs * run_bytes, runs, run_bytes, more, clock_ghz=1.0, stride_bytes=stride)
    assert b.cycles <= a.cycles
    assert (a.bursts, a.row_misses, a.bytes_moved) == (b.bursts, b.row_misses, b.bytes_moved)


@settings(max_examples=200, deadline=None)
@given(cfg=CONFIGS, a=st.floats(1.0, 1e5), b=st.floats(1.0, 1e5))
def test_rows_touched_subadditive(cfg, a, b):
    """Two runs apart never open fewer rows than the same bytes in one run."""
    assert rows_touched(a, cfg) + rows_touched(b, cfg) >= rows_touched(a + b, cfg)


# ---- channel_last vs interleaved ---------------------------------------------------------------------
SUBSETS = [  # (H, W, channels, selected, bytes per element)
    (32, 32, 256, 128, 0.5),
    (32, 32, 256, 128, 2.0),
    (64, 64, 256, 128, 0.5),
    (32, 32, 1024, 2, 2.0),
]


@pytest.mark.parametrize("h,w,c,sel,bpe", SUBSETS)
def test_channel_last_vs_interleaved_subsets(sqdm, h, w, c, sel, bpe):
    cfg = sqdm.dram
    costs = {}
    for mapping in ("channel_last", "interleaved"):
        useful, p = channel_subset_pattern(h, w, c, sel, bpe, mapping, cfg.burst_bytes)
        costs[mapping] = dram_access_cost(useful, p.runs, p.run_bytes, cfg, clock_ghz=1.0, stride_bytes=p.stride_bytes)
    cl, il = costs["channel_last"], costs["interleaved"]
    assert cl.cycles < il.cycles and cl.bursts < il.bursts and cl.bytes_moved < il.bytes_moved
    assert cl.row_misses <= il.row_misses
    if h * w * bpe >= cfg.row_bytes:  # a channel plane fills a page: unselected planes leave pages closed
        assert cl.row_misses < il.row_misses


def test_channel_last_vs_interleaved_hand_values(sqdm):
    cfg = sqdm.dram
    # 128 of 256 channels, 32 x 32, 2 B/element. channel_last: 128 planes of 2 KiB every 4 KiB = 128
    # pages, 4096 bursts, 2560 data cycles. interleaved: 512 B pixels with 8 bursts each, every burst holds
    # a selected channel -> the whole 512 KiB tensor: 256 pages, 8192 bursts, 5120 data cycles.
    u, p = channel_subset_pattern(32, 32, 256, 128, 2.0, "channel_last", cfg.burst_bytes)
    cl = dram_access_cost(u, p.runs, p.run_bytes, cfg, clock_ghz=1.0, stride_bytes=p.stride_bytes)
    u, p = channel_subset_pattern(32, 32, 256, 128, 2.0, "interleaved", cfg.burst_bytes)
    il = dram_access_cost(u, p.runs, p.run_bytes, cfg, clock_ghz=1.0, stride_bytes=p.stride_bytes)
    assert cl == (56 + 2560, 4096, 128, 256 * KIB)
    assert il == (56 + 5120, 8192, 256, 512 * KIB)
    # 2 of 1024 channels, 2 B/element: channel_last reads 2 pages; interleaved one 128 B run (2 bursts)
    # in each of 1024 pixels of 2 KiB, one page per pixel: 1024 activations, 256 per channel, activation
    # bound: 255 x 10 cycles
    u, p = channel_subset_pattern(32, 32, 1024, 2, 2.0, "channel_last", cfg.burst_bytes)
    cl = dram_access_cost(u, p.runs, p.run_bytes, cfg, clock_ghz=1.0, stride_bytes=p.stride_bytes)
    u, p = channel_subset_pattern(32, 32, 1024, 2, 2.0, "interleaved", cfg.burst_bytes)
    il = dram_access_cost(u, p.runs, p.run_bytes, cfg, clock_ghz=1.0, stride_bytes=p.stride_bytes)
    assert cl == (56 + 40, 64, 2, 4 * KIB)
    assert il == (56 + 255 * 10, 2048, 1024, 128 * KIB)


# ---- SimPy Dram -------------------------------------------------------------------------------------
def test_simpy_dram_uses_the_pure_cost_for_strided_patterns(sqdm):
    env, rec = simpy.Environment(), ActivityRecorder()
    d = Dram(env, sqdm.dram, sqdm.clock_ghz, rec)
    pattern = AccessPattern(runs=64, run_bytes=64, stride_bytes=4096)
    cost = dram_access_cost(4096, 64, 64, sqdm.dram, clock_ghz=sqdm.clock_ghz, stride_bytes=4096)
    proc = env.process(d.transfer(4096, pattern))
    env.run()
    assert proc.value == cost
    assert env.now == pytest.approx(cost.cycles)
    assert rec.busy_cycles("dram") == pytest.approx(cost.cycles - sqdm.dram.row_hit_latency_cycles)
    assert rec.counter("dram", "row_misses") == cost.row_misses == 64


# ---- energy -----------------------------------------------------------------------------------------
def test_row_misses_carry_activation_energy(sqdm):
    em = EnergyModel(sqdm)
    act_pj = em.event_pj("dram", "row_misses")
    assert act_pj == pytest.approx(1700.0)  # components/data/energy_28nm.yaml, lpddr4
    e = em.energy_pj({("dram", "bytes_moved"): MIB, ("dram", "row_misses"): 512})
    assert e.dynamic_pj["dram"] == pytest.approx(MIB * 8 * 8.0 + 512 * act_pj)
    assert e.unpriced == ()
    # on a stream, activations add ~1.3% to the interface energy
    assert 512 * act_pj / (MIB * 64.0) == pytest.approx(0.013, abs=0.001)


def test_row_misses_unpriced_without_a_table_entry():
    d = yaml.safe_load(shipped_config_path("sqdm").read_text())
    d["dram"]["technology"] = "hbm2"  # per-bit energy known, activation energy not in the table
    e = EnergyModel(parse_hardware_config(d)).energy_pj({("dram", "row_misses"): 3})
    assert e.unpriced == (("dram", "row_misses"),)


# ---- config validation ------------------------------------------------------------------------------
BAD_DRAM = [
    ("banks", 0, "dram.banks", "greater than 0"),
    ("banks", 2.5, "dram.banks", "integer"),
    ("channel_interleave_bytes", 100, "dram.channel_interleave_bytes", "multiple of burst_bytes"),
    ("channel_interleave_bytes", 4096, "dram.channel_interleave_bytes", "divide row_bytes"),
    ("row_activation_interval_cycles", -1.0, "dram.row_activation_interval_cycles", "greater than or equal to 0"),
    ("row_activation_interval_cycles", "fast", "dram.row_activation_interval_cycles", "number"),
]


@pytest.mark.parametrize("key,value,field,reason", BAD_DRAM, ids=[f"{b[0]}={b[1]!r}" for b in BAD_DRAM])
def test_bad_dram_fields_are_one_line_config_errors(tmp_path: Path, key, value, field, reason):
    d = yaml.safe_load(shipped_config_path("sqdm").read_text())
    d["dram"][key] = value
    p = tmp_path / "hw.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError) as ei:
        load_hardware_config(p)
    msg = str(ei.value)
    assert "\n" not in msg and ei.value.field == field, msg
    assert reason.lower() in msg.lower(), msg


@pytest.mark.parametrize("key", ["banks", "channel_interleave_bytes", "row_activation_interval_cycles"])
def test_new_dram_fields_are_required(tmp_path: Path, key):
    d = yaml.safe_load(shipped_config_path("sqdm").read_text())
    del d["dram"][key]
    p = tmp_path / "hw.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match=f"dram.{key}.*Field required"):
        load_hardware_config(p)
