"""SimPy components in tiny simulations: queuing, back-pressure, fail-fast errors, recorded activity."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from components import (
    ActivityRecorder,
    AccessPattern,
    Buffer,
    BufferConfig,
    CapacityError,
    DensePECluster,
    Dram,
    SparsePECluster,
    UnsupportedFormatError,
    VectorUnit,
    dense_compute_cycles,
    load_shipped_config,
    macs_counter,
    sparse_compute_cycles,
)


@pytest.fixture(scope="module")
def hw():
    return load_shipped_config("sqdm")


def run(env, *gens):
    procs = [env.process(g) for g in gens]
    env.run()
    return [p.value for p in procs]


def test_dram_transfers_queue_and_match_pure_cost(hw):
    env, st = simpy.Environment(), ActivityRecorder()
    d = Dram(env, hw.dram, hw.clock_ghz, st)
    pattern = AccessPattern(runs=10, run_bytes=4096)
    cost = d.cost(40960, pattern)
    a, b = run(env, d.transfer(40960, pattern, tag="a"), d.transfer(40960, pattern, tag="b"))
    assert a == b == cost
    occupancy = cost.cycles - hw.dram.row_hit_latency_cycles
    # the second waits for the first's occupancy; the row-hit latency is pipelined
    assert env.now == pytest.approx(2 * occupancy + hw.dram.row_hit_latency_cycles)
    iv = st.intervals("dram")
    assert list(iv["tag"]) == ["a", "b"] and iv["start_cycle"][1] == pytest.approx(occupancy)
    assert st.counter("dram", "bytes_moved") == 2 * cost.bytes_moved
    assert st.counter("dram", "row_misses") == 2 * cost.row_misses
    assert st.busy_cycles("dram") == pytest.approx(2 * occupancy)


def test_dram_bad_pattern_fails_at_call(hw):
    d = Dram(simpy.Environment(), hw.dram, hw.clock_ghz)
    with pytest.raises(ValueError, match="do not fit"):
        d.transfer(10_000, AccessPattern(runs=1, run_bytes=10))


SMALL = BufferConfig(capacity_bytes=1000, ports=1, bytes_per_cycle_per_port=10, double_buffered=True)


def test_buffer_back_pressure_producer_blocks_until_consumer_frees():
    env, st = simpy.Environment(), ActivityRecorder()
    buf = Buffer(env, SMALL, st, name="global_buffer")
    log = []

    def producer():
        for i in range(3):
            yield buf.allocate(600)
            log.append(("alloc", i, env.now))

    def consumer():
        for i in range(3):
            yield env.timeout(50)
            buf.release(600)
            log.append(("free", i, env.now))

    run(env, producer(), consumer())
    # tile 0 at t=0; tile 1 only after the first release at t=50; tile 2 after the second at t=100
    assert [e for e in log if e[0] == "alloc"] == [("alloc", 0, 0), ("alloc", 1, 50), ("alloc", 2, 100)]
    assert buf.peak_allocated_bytes <= SMALL.capacity_bytes
    assert buf.allocated_bytes == 0
    assert buf.tile_capacity_bytes == 500


def test_buffer_over_capacity_fails_fast_never_hangs():
    env = simpy.Environment()
    buf = Buffer(env, SMALL)
    with pytest.raises(CapacityError, match="1001 bytes exceeds its capacity of 1000"):
        buf.allocate(1001)
    with pytest.raises(ValueError):
        buf.release(1)


def test_buffer_fifo_big_request_not_starved():
    env = simpy.Environment()
    buf = Buffer(env, SMALL)
    order = []

    def taker(name, n, delay):
        yield env.timeout(delay)
        yield buf.allocate(n)
        order.append(name)

    def holder():
        yield buf.allocate(500)
        yield env.timeout(10)
        buf.release(500)

    for g in (holder(), taker("big", 1000, 1), taker("small", 100, 2)):
        env.process(g)
    env.run()
    assert order == ["big"]  # small waits behind big (FIFO); nothing frees big's bytes afterwards
    assert buf.allocated_bytes == 1000


def test_buffer_ports_and_accounting():
    env, st = simpy.Environment(), ActivityRecorder()
    cfg = BufferConfig(capacity_bytes=1000, ports=2, bytes_per_cycle_per_port=10, double_buffered=False)
    buf = Buffer(env, cfg, st)
    cycles = run(env, buf.read(100), buf.read(100), buf.write(55))
    assert cycles == [10, 10, 6]
    assert env.now == 16  # two ports: the write waits for one read
    assert st.counter("global_buffer", "read_bytes") == 200 and st.counter("global_buffer", "write_bytes") == 55
    assert st.busy_cycles_sum("global_buffer") == 26 and st.busy_cycles("global_buffer") == 16


def test_dense_cluster_process(hw):
    env, st = simpy.Environment(), ActivityRecorder()
    dc = DensePECluster(env, hw.dense_cluster, st)
    expect = dense_compute_cycles(1e6, "int4_e4m3", hw.dense_cluster, 0.8)
    a, b = run(env, dc.compute(1e6, "int4_e4m3", 0.8), dc.compute(1e6, "mxint8"))
    assert a == expect and b == dense_compute_cycles(1e6, "mxint8", hw.dense_cluster)
    assert env.now == a + b  # one computation at a time
    assert st.counter("dense_cluster", macs_counter("int4_e4m3")) == 1e6
    assert st.counter("dense_cluster", "noc_hops") == 2e6 * hw.dense_cluster.noc_hops_per_mac


def test_unsupported_format_raises_at_call(hw):
    dc = DensePECluster(simpy.Environment(), hw.dense_cluster)
    with pytest.raises(UnsupportedFormatError, match="'fp16'.*dense_cluster"):
        dc.compute(10, "fp16")


def test_sparse_cluster_process(hw):
    env, st = simpy.Environment(), ActivityRecorder()
    sc = SparsePECluster(env, hw.sparse_cluster, st)
    (c,) = run(env, sc.compute(1e6, 0.3, "uint4_e4m3", bitmap_elems=5e4))
    assert c == sparse_compute_cycles(1e6, 0.3, "uint4_e4m3", hw.sparse_cluster, bitmap_elems=5e4)
    assert st.counter("sparse_cluster", macs_counter("uint4_e4m3")) == pytest.approx(3e5)
    assert st.counter("sparse_cluster", "skipped_macs") == pytest.approx(7e5)
    assert st.counter("sparse_cluster", "metadata_bits") == 5e4


def test_dense_and_sparse_run_side_by_side(hw):
    env, st = simpy.Environment(), ActivityRecorder()
    dc, sc = DensePECluster(env, hw.dense_cluster, st), SparsePECluster(env, hw.sparse_cluster, st)
    a, b = run(env, dc.compute(5e5, "uint4_e4m3"), sc.compute(5e5, 0.4, "uint4_e4m3"))
    assert env.now == max(a, b)


def test_vector_unit_process(hw):
    env, st = simpy.Environment(), ActivityRecorder()
    vu = VectorUnit(env, hw.vector_unit, st)
    (c,) = run(env, vu.compute(6400, "softmax"))
    assert c == 6400 * 5 / 64
    assert st.counter("vector_unit", "ops") == 32000
    with pytest.raises(ValueError, match="unknown_op"):
        vu.compute(1, "unknown_op")


def test_double_buffering_overlaps_next_load_with_compute():
    """Tiles of tile_capacity_bytes: tile i+1 loads while tile i computes; a third waits for a free half."""
    env = simpy.Environment()
    buf = Buffer(env, SMALL)  # 1000 B, double buffered -> 500 B tiles
    tile = buf.tile_capacity_bytes
    load_cycles, compute_cycles = 30, 50
    done = []

    def tile_proc(i):
        yield buf.allocate(tile)  # at most two tiles resident
        yield env.timeout(load_cycles)
        yield compute.request()
        yield env.timeout(compute_cycles)
        compute.release(compute.users[0])
        buf.release(tile)
        done.append((i, env.now))

    compute = simpy.Resource(env, capacity=1)
    for i in range(3):
        env.process(tile_proc(i))
    env.run()
    # tile 1 loads during tile 0's compute; tile 2 can only load after tile 0 frees its half at t=80
    assert done == [(0, 80), (1, 130), (2, 180)]
