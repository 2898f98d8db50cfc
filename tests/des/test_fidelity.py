"""Physical fidelity of the core: array utilization from the mapping, the memory hierarchy's access counts
and bandwidth, overlap, prefetch, monotonicity with the mapping re-chosen, fast-forward."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from components import DENSE_LOCAL_BUFFER, TileShape, load_shipped_config, map_tile
from des import simulate
from des.run import load_hardware
from quant.policy import apply_policy
from workloads import extract_graph

from des_helpers import HW_POLICY, graph, profile


def _one_op(module: nn.Module, x: torch.Tensor, policy: str = "fp16"):
    return apply_policy(extract_graph(module, [x], name="one-op"), policy)


def _util(report) -> float:
    u = report.node_array_utilization
    return float(np.nanmax(u[:, 0]))


# -- array utilization ------------------------------------------------------------------------------------
def test_hand_mapping_of_one_convolution():
    """A 3x3 conv, 4 -> 8 channels on 8x8 (R = 36, P = 64, Q = 8) on 16 multipliers with 4 elements/cycle of
    distribution and reduction bandwidth and 8 B/cycle of local buffer (FP16 operands and partial sums).
    Worked by hand over every VN size s (cycles = mappings x (weight load + 64 x per-position) + pipeline):
      s=4: 4 VNs, 9 folds, 18 mappings, load 4, per position max(1, 0.33, 1, (2.67 + 16) / 8) = 2.33 -> 2767
      s=6: 2 VNs, 6 folds, 24 mappings, load 3, per position (4 + 8) / 8 = 1.5                     -> 2384
      s=8: 2 VNs, 5 folds, 20 mappings, load 4, per position (5.33 + 8) / 8 = 1.67                 -> 2222
      s=12: 1 VN, 3 folds, 24 mappings, load 3, per position (8 + 4) / 8 = 1.5                       -> 2385
    (s = 1, 2, 3, 5, 7, 9..11, 13..16 are slower), so s = 8 wins."""
    m = map_tile(TileShape(36, 64, 8, 1 / 3), 16, 1.0, 4, 4, input_bytes_per_elem=2, weight_bytes_per_elem=2,
                 psum_bytes_per_elem=2, local_bw_bytes_per_cycle=8)
    assert (m.vn_size, m.vns, m.folds, m.mappings, m.cycles) == (8, 2, 5, 20, 2222)
    assert m.weight_reads_elems == 20 * 8 * 2  # each stationary weight once, the partial last fold padded
    assert m.input_reads_elems == pytest.approx(20 * 64 * 8 / 3)  # a third of each window is new
    assert m.psum_elems == 64 * 8 * 4  # written and read back once per fold after the first
    assert m.utilization == pytest.approx(36 * 64 * 8 / (16 * 2222))


def test_per_level_access_counts_of_one_convolution():
    """The same conv simulated on fp16-dense cut to 16 multipliers: every level's bytes, by operand."""
    hw = load_hardware("fp16-dense", ("dense_cluster.multipliers=16",))
    assert hw.dense_cluster.distribution_bw_elems_per_cycle == 4 and hw.dense_cluster.local_buffer.bytes_per_cycle_per_port == 8
    g = _one_op(nn.Conv2d(4, 8, 3, padding=1), torch.zeros(1, 4, 8, 8))
    r = simulate(g, hw, progress=False)
    c = r.counters
    in_b, w_b, out_b = 4 * 8 * 8 * 2, (4 * 8 * 9 + 8) * 2, 8 * 8 * 8 * 2  # FP16 input, weights + bias, output
    # DRAM: the model input and the (resident, first-evaluation) weights in, the network output out
    assert c["dram.useful_bytes_read"] == in_b + w_b and c["dram.useful_bytes_write"] == out_b
    # global buffer: DRAM fills, one read of each operand into the local buffer, the result, the drain
    assert c["global_buffer.write_bytes.inputs"] == in_b and c["global_buffer.write_bytes.weights"] == w_b
    assert c["global_buffer.read_bytes.inputs"] == in_b and c["global_buffer.read_bytes.weights"] == w_b
    assert c["global_buffer.write_bytes.outputs"] == out_b and c["global_buffer.read_bytes.outputs"] == out_b
    # local buffer: filled once, read by the array per the mapping of the hand test above
    lb = DENSE_LOCAL_BUFFER
    assert c[f"{lb}.write_bytes.inputs"] == in_b and c[f"{lb}.write_bytes.weights"] == w_b
    assert c[f"{lb}.read_bytes.weights"] == 320 * 2
    assert c[f"{lb}.read_bytes.inputs"] == pytest.approx(20 * 64 * 8 / 3 * 2)
    assert c[f"{lb}.read_bytes.psums"] == c[f"{lb}.write_bytes.psums"] == 2048 * 2
    assert c["dense_cluster.macs.fp16"] == 36 * 64 * 8
    assert r.energy_by_level_operand_pj[lb]["psums"] > 0 and r.energy_dynamic_pj[lb] > 0
    assert _util(r) == pytest.approx(36 * 64 * 8 / (16 * 2222))


def test_batch1_linear_is_distribution_bound():
    """A batch-1 linear streams every weight once: no reuse, so distribution bandwidth, not multipliers, bounds it."""
    hw = load_shipped_config("int4-dense")
    r = simulate(_one_op(nn.Linear(512, 512), torch.zeros(1, 512), "int4"), hw, progress=False)
    u = _util(r)
    assert u < 0.35  # 1/4 of the multipliers' worth of elements per cycle can be distributed
    # and a batch of 256 rows reuses every weight 256 times: the array fills up
    r256 = simulate(_one_op(nn.Linear(512, 512), torch.zeros(256, 512), "int4"), hw, progress=False)
    assert _util(r256) > 0.9 > u


def test_few_output_channels_leave_multipliers_idle():
    """A 3x3 conv with 3 output channels (the UNet's last conv) cannot fill 4096 multipliers with VNs."""
    hw = load_shipped_config("int4-dense")
    r = simulate(_one_op(nn.Conv2d(128, 3, 3, padding=1), torch.zeros(1, 128, 32, 32), "int4"), hw, progress=False)
    assert _util(r) < 0.9


def test_large_3x3_conv_stays_near_full():
    hw = load_shipped_config("int4-dense")
    r = simulate(_one_op(nn.Conv2d(256, 256, 3, padding=1), torch.zeros(1, 256, 32, 32), "int4"), hw, progress=False)
    assert _util(r) > 0.95


def test_utilization_is_reported_for_every_mac_node():
    r = simulate(graph("ddpm-cifar10", "int4"), load_shipped_config("int4-dense"), progress=False)
    g = graph("ddpm-cifar10", "int4")
    macs = [i for i, n in enumerate(r.node_ids) if g.nodes[n]["kind"] in ("conv", "linear", "matmul")]
    u = r.node_array_utilization[macs, 0]
    assert np.all((u > 0) & (u <= 1))
    assert np.nanmin(u) < 0.5 and np.nanmax(u) > 0.95  # not 100% everywhere


# -- memory hierarchy -------------------------------------------------------------------------------------
def test_global_buffer_bandwidth_binds_where_it_is_short():
    g = graph("tiny-digits", "int4")
    fast = simulate(g, load_shipped_config("int4-dense"), progress=False)
    slow_hw = load_hardware("int4-dense", ("global_buffer.bytes_per_cycle_per_port=1",))
    slow = simulate(g, slow_hw, progress=False)
    assert slow.total_cycles > 2 * fast.total_cycles
    gb_bytes = slow.bytes["global_buffer_read_bytes"] + slow.bytes["global_buffer_write_bytes"]
    assert slow.total_cycles >= gb_bytes / (slow_hw.global_buffer.ports * 1) - 1e-6  # its roofline
    ana = slow.analytical_node_cycles.sum()
    assert abs(slow.total_cycles - ana) / ana < 0.03


def test_local_buffer_energy_is_charged():
    r = simulate(graph("tiny-digits", "sqdm"), load_shipped_config("sqdm"), steps=3,
                 profile=profile("tiny-digits", 3), progress=False)
    for lb in ("dense_cluster.local_buffer", "sparse_cluster.local_buffer"):
        assert r.energy_dynamic_pj[lb] > 0
        assert set(r.energy_by_level_operand_pj[lb]) >= {"inputs", "weights"}
    assert r.energy_by_level_operand_pj["sparse_cluster.local_buffer"]["bitmaps"] > 0
    # the breakdown is the dynamic energy, split
    total = sum(sum(v.values()) for v in r.energy_by_level_operand_pj.values())
    assert total == pytest.approx(sum(r.energy_dynamic_pj.values()), rel=1e-9)


# -- overlap and prefetch ---------------------------------------------------------------------------------
def test_larger_buffer_is_not_slower_on_fp16():
    """The audit's case: 1 / 4 / 16 MiB global buffer on fp16-dense (ddpm-cifar10) got slower as it grew."""
    g = graph("ddpm-cifar10", "fp16")
    cycles = [simulate(g, load_hardware("fp16-dense", _knob("fp16-dense", "global_buffer", mib)),
                       progress=False).total_cycles for mib in (1, 4, 16)]
    assert cycles[0] >= cycles[1] >= cycles[2]


def test_prefetch_switch_hides_weight_loads():
    g = graph("ddpm-cifar10", "int4")
    on = simulate(g, load_shipped_config("int4-dense"), progress=False)
    off = simulate(g, load_hardware("int4-dense", ("residency.prefetch_next_weights=false",)), progress=False)
    assert on.total_cycles < off.total_cycles
    hosts = [i for i, n in enumerate(on.node_ids) if g.nodes[n]["kind"] in ("norm", "activation")]
    assert on.node_dram_moved_bytes[hosts].sum() > off.node_dram_moved_bytes[hosts].sum()  # loaded earlier


def test_pipelined_overlap_beats_serial_phases():
    """Loads hide behind compute: a node never takes the sum of its phases when it has more than one tile."""
    from des.analytical import tile_phases
    from des.mapping import plan_graph
    from des.residency import plan_residency
    from des.work import StepWork, tile_works
    hw = load_shipped_config("fp16-dense")
    g = graph("ddpm-cifar10", "fp16")
    r = simulate(g, hw, progress=False)
    plans = plan_graph(g, hw, plan_residency(g, hw))
    multi = [n for n, p in plans.items() if p.kind == "mac" and p.tiles > 1]
    assert multi
    for n in multi[:10]:
        ph = [tile_phases(hw, t) for t in tile_works(plans[n], hw, StepWork())]
        serial = sum(p.load + p.compute + p.write for p in ph)
        assert r.node_cycles[r.node_ids.index(n), 0] < serial


# -- monotonicity with the mapping re-chosen ----------------------------------------------------------------
def _knob(hwname: str, knob: str, factor: float) -> tuple[str, ...]:
    """Overrides that scale one resource by ``factor`` with everything else fixed (the multiplier count is
    pinned, or an iso-area machine would give up multipliers for the larger buffer)."""
    base = load_shipped_config(hwname)
    n = int(base.dense_cluster.multipliers * (factor if knob == "multipliers" else 1.0))
    pinned = (f"dense_cluster.multipliers={n - n % 16}",)
    if knob == "global_buffer":
        return pinned + (f"global_buffer.capacity_bytes={int(base.global_buffer.capacity_bytes * factor)}",)
    if knob == "gb_bandwidth":
        return pinned + (f"global_buffer.bytes_per_cycle_per_port={base.global_buffer.bytes_per_cycle_per_port * factor}",)
    if knob == "dram_bandwidth":
        return pinned + (f"dram.bandwidth_gbytes_per_s={base.dram.bandwidth_gbytes_per_s * factor}",)
    return pinned


@settings(max_examples=24, deadline=None)
@given(hwname=st.sampled_from(["int4-dense", "fp16-dense", "sqdm"]),
       knob=st.sampled_from(["global_buffer", "gb_bandwidth", "dram_bandwidth", "multipliers"]),
       factor=st.sampled_from([1.5, 2.0, 4.0]))
def test_more_resources_never_slower_mapping_rechosen(hwname, knob, factor):
    g = graph("tiny-digits", HW_POLICY[hwname])
    prof = profile("tiny-digits", 3) if hwname == "sqdm" else None
    base = load_hardware(hwname, _knob(hwname, knob, 1.0))
    more = load_hardware(hwname, _knob(hwname, knob, factor))
    a = simulate(g, base, steps=3, profile=prof, progress=False)
    b = simulate(g, more, steps=3, profile=prof, progress=False)  # each machine maps the graph for itself
    assert b.total_cycles <= a.total_cycles * (1 + 1e-9)


@pytest.mark.parametrize("hwname", ["int4-dense", "fp16-dense", "sqdm"])
def test_more_resources_never_slower_on_ddpm(hwname):
    g = graph("ddpm-cifar10", HW_POLICY[hwname])
    prof = profile("ddpm-cifar10", 2) if hwname == "sqdm" else None
    base = simulate(g, load_shipped_config(hwname), steps=2, profile=prof, progress=False).total_cycles
    for knob in ("global_buffer", "gb_bandwidth", "dram_bandwidth", "multipliers"):
        more = simulate(g, load_hardware(hwname, _knob(hwname, knob, 2.0)), steps=2, profile=prof, progress=False)
        assert more.total_cycles <= base * (1 + 1e-9), knob


# -- fast-forward -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["tiny-digits", "ddpm-cifar10", "edm-cifar10"])
@pytest.mark.parametrize("hwname", ["int4-dense", "int4vsq-dense", "fp16-dense", "sqdm"])
def test_fast_forward_changes_nothing(model, hwname):
    """Every shipped machine on the small zoo models (the large ones: test_speed_paths.py, marked slow)."""
    g = graph(model, HW_POLICY[hwname])
    prof = profile(model, 2) if hwname == "sqdm" else None
    on = simulate(g, load_shipped_config(hwname), steps=2, profile=prof, progress=False)
    off = simulate(g, load_shipped_config(hwname), steps=2, profile=prof, progress=False, fast_forward=False)
    assert np.all(np.abs(on.node_cycles - off.node_cycles) <= 0.005 * np.maximum(off.node_cycles, 1.0))
    assert on.counters.keys() == off.counters.keys()
    for k, v in off.counters.items():
        assert on.counters[k] == pytest.approx(v, rel=1e-12, abs=1e-9), k
    assert on.events <= off.events


def test_op_without_cost_model_is_an_error():
    from des.plan import NoCostModelError, vector_kind
    with pytest.raises(NoCostModelError, match="op 'fft'"):
        vector_kind("x:fft", "fft")
    assert vector_kind("x:add", "add") == "add"


class _Residual(nn.Module):
    """a = conv1(x); out = a + conv2(a): a residual add of two full tensors."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(4, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        a = self.c1(x)
        return a + self.c2(a)


class _Concat(nn.Module):
    """out = conv3(cat(conv1(x), conv2(x)))."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(4, 8, 1), nn.Conv2d(4, 8, 1), nn.Conv2d(16, 8, 1)

    def forward(self, x):
        return self.c3(torch.cat([self.c1(x), self.c2(x)], dim=1))


_SPILL_ALL = ("residency.tensor_budget_fraction=0", "residency.keep_skip_tensors_on_chip_if_fit=false")


@pytest.mark.parametrize("spill", [False, True])
def test_residual_add_in_the_write_back_by_hand(spill):
    """Rule 7 on fp16-dense (FP16 everywhere): x 4x8x8 = 512 B, weights (4*8*9 + 8 + 8*8*9 + 8) x 2 = 1760 B,
    a and the output 8x8x8 = 1024 B each. conv2's write-back adds a: the buffer reads x, a (conv2's input)
    and a again (the residual), 2560 B; no vector pass. With every tensor spilled, conv1 writes a, conv2
    reads it twice from DRAM (input band and residual band), and conv2's write-back writes the sum."""
    hw = load_hardware("fp16-dense", ("dense_cluster.multipliers=16",) + (_SPILL_ALL if spill else ()))
    g = _one_op(_Residual(), torch.zeros(1, 4, 8, 8))
    c = simulate(g, hw, progress=False).counters
    x_b, w_b, a_b = 512, 1760, 1024
    assert c["dram.useful_bytes_read"] == x_b + w_b + (2 * a_b if spill else 0)
    assert c["dram.useful_bytes_write"] == a_b + (a_b if spill else 0)
    assert c["global_buffer.read_bytes.inputs"] == x_b + 2 * a_b
    assert c["global_buffer.write_bytes.outputs"] == 2 * a_b  # a, and the sum (conv2's raw output never stored)
    assert not c.get("vector_unit.ops")
    off = load_hardware("fp16-dense", ("dense_cluster.multipliers=16", "fusion.residual_add_fused=false") +
                        (_SPILL_ALL if spill else ()))
    c_off = simulate(g, off, progress=False).counters
    assert c_off["vector_unit.ops"] > 0  # the add's own pass: reads a and conv2's output, writes the sum
    assert c_off["global_buffer.read_bytes.inputs"] + c_off.get("global_buffer.read_bytes.outputs", 0) > \
        c["global_buffer.read_bytes.inputs"] + c.get("global_buffer.read_bytes.outputs", 0)


@pytest.mark.parametrize("spill", [False, True])
def test_concat_is_read_in_place_by_hand(spill):
    """Rule 8 on fp16-dense: conv1 and conv2 each write 8x8x8 x 2 = 1024 B; conv3 reads both parts where they
    were stored (from DRAM when spilled: 2048 B) and nothing copies them into a concat tensor."""
    hw = load_hardware("fp16-dense", _SPILL_ALL if spill else ())
    g = _one_op(_Concat(), torch.zeros(1, 4, 8, 8))
    c = simulate(g, hw, progress=False).counters
    x_b, part_b, out_b = 512, 1024, 1024
    w_b = (4 * 8 + 8 + 4 * 8 + 8 + 16 * 8 + 8) * 2
    assert c["dram.useful_bytes_read"] == 2 * x_b + w_b + (2 * part_b if spill else 0)  # x read by conv1, conv2
    assert c["dram.useful_bytes_write"] == out_b + (2 * part_b if spill else 0)
    assert c["global_buffer.write_bytes.outputs"] == 2 * part_b + out_b
    assert not c.get("vector_unit.ops")
    copy = load_hardware("fp16-dense", ("fusion.concat_as_view=false",) + (_SPILL_ALL if spill else ()))
    c_copy = simulate(g, copy, progress=False).counters
    assert c_copy["global_buffer.write_bytes.outputs"] == 4 * part_b + out_b  # the concat writes both again
    assert c_copy["dram.useful_bytes_write"] == c["dram.useful_bytes_write"] + (2 * part_b if spill else 0)
