"""How the iso-area sizing of the shipped baselines moves with the uncertain area inputs.

Run: ``python bench/area_sensitivity.py`` (well under a second; prints markdown tables).
``python bench/area_sensitivity.py --vector-share`` also prints the vector-unit rationale table of
docs/sizing.md (builds every zoo graph: about a minute).

Every area-table entry that states a ``range: [lo, hi]`` (components/data/area_28nm.yaml) and the vector
unit's lane count (``vector_unit.lanes_range`` of the shipped configs) is set to the low end, the
default and the high end of its range, one at a time, everything else at its default. For each point:
the multiplier count each baseline's ``sizing:`` section derives at the total area of ``sqdm`` (both
priced with the same modified table), the INT4:FP16 multiplier ratio at equal area, and the area of
one SQ-DM sparse multiplier over one dense multiplier (each with its interconnect). The last table is
the range of the two ratios over the whole box (every combination of low / default / high).
"""
from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass

from components import HardwareConfig, load_shipped_config
from components.area import iso_area_multipliers, sparse_to_dense_multiplier_area_ratio
from components.tables import AreaTable

REFERENCE = "sqdm"
BASELINES = ("fp16-dense", "int4-dense", "int4vsq-dense")
LANES = "vector_unit.lanes"


@dataclass(frozen=True)
class Point:
    """The derived numbers at one setting of the uncertain inputs."""

    multipliers: dict[str, int]  # baseline -> derived dense_cluster.multipliers
    int4_to_fp16: float  # int4-dense / fp16-dense multipliers at equal area
    sparse_to_dense_area: float  # sqdm: one sparse multiplier's area / one dense multiplier's


def with_lanes(hw: HardwareConfig, lanes: int) -> HardwareConfig:
    """`hw` with `lanes` vector lanes (nothing else changed)."""
    return hw.model_copy(update={"vector_unit": hw.vector_unit.model_copy(update={"lanes": lanes})})


def evaluate(machines: dict[str, HardwareConfig], table: AreaTable, lanes: int | None = None) -> Point:
    """Derived numbers with area table `table` and, when given, `lanes` vector lanes on every machine."""
    if lanes is not None:
        machines = {n: with_lanes(hw, lanes) for n, hw in machines.items()}
    ref = machines[REFERENCE]
    counts = {n: iso_area_multipliers(machines[n], ref, table) for n in BASELINES}
    return Point(counts, counts["int4-dense"] / counts["fp16-dense"], sparse_to_dense_multiplier_area_ratio(ref, table))


def parameters(machines: dict[str, HardwareConfig]) -> dict[str, tuple[float, float, float]]:
    """(low, default, high) of every swept input: the area table's ranged entries and the lane count."""
    t = machines[REFERENCE].area_table()
    out = {name: (lo, t.value(name), hi) for name, (lo, hi) in t.ranges.items()}
    v = machines[REFERENCE].vector_unit
    if v.lanes_range is not None:
        out[LANES] = (float(v.lanes_range[0]), float(v.lanes), float(v.lanes_range[1]))
    return out


def point_at(machines: dict[str, HardwareConfig], setting: dict[str, float]) -> Point:
    """Derived numbers with the inputs of `setting` (name -> value) changed, the rest at default."""
    table = machines[REFERENCE].area_table()
    lanes = None
    for name, value in setting.items():
        if name == LANES:
            lanes = int(value)
        else:
            table = table.with_value(name, value)
    return evaluate(machines, table, lanes)


def one_at_a_time(machines: dict[str, HardwareConfig]) -> list[tuple[str, str, float, Point]]:
    """(parameter, end, value, point) for the low / default / high end of each parameter alone."""
    rows = []
    for name, values in parameters(machines).items():
        for end, value in zip(("low", "default", "high"), values):
            rows.append((name, end, value, point_at(machines, {name: value})))
    return rows


def whole_box(machines: dict[str, HardwareConfig]) -> list[Point]:
    """Points at every combination of low / default / high of all parameters."""
    params = parameters(machines)
    return [point_at(machines, dict(zip(params, combo))) for combo in itertools.product(*params.values())]


def load_machines() -> dict[str, HardwareConfig]:
    """The reference and the baselines, as shipped."""
    return {n: load_shipped_config(n) for n in (REFERENCE, *BASELINES)}


def vector_share_rows(lanes_options: tuple[int, ...]) -> list[tuple[str, int, float, float, str]]:
    """(model, lanes, vector cycles / peak-MAC cycles, largest norm/softmax node / peak-MAC cycles, node)
    for one evaluation of each zoo model on sqdm (ReLU, batch 1), from the graph alone: element ops of
    every vector node with a pass of its own (des/residency.py: not a ReLU, bias add, scaling or residual add
    run in a write-back, nor a concat view) (vector_unit.ops_per_element) over lanes, against MACs over all multipliers."""
    from des.mapping import VECTOR_KIND_OF
    from des.residency import plan_residency
    from workloads import build_workload, list_models

    hw = load_shipped_config(REFERENCE)
    ops = hw.vector_unit.ops_per_element
    peak = sum(c.multipliers for c in hw.clusters().values())
    rows = []
    for model in list_models():
        if model == "tiny-digits":
            continue
        g = build_workload(model, activation="relu")
        fused = plan_residency(g, hw).fused
        macs, vec, big, big_node = 0.0, 0.0, 0.0, ""
        for node, d in g.nodes(data=True):
            if d.get("macs"):
                macs += d["macs"]
            elif d["op"] in VECTOR_KIND_OF and node not in fused:
                kind = VECTOR_KIND_OF[d["op"]]
                o = max(d["output_elements"], d["input_elements"]) * ops[kind]
                vec += o
                if kind in ("group_norm", "layer_norm", "softmax") and o > big:
                    big, big_node = o, node
        mac_cycles = macs / peak
        for lanes in lanes_options:
            per = lanes * hw.vector_unit.ops_per_lane_per_cycle
            rows.append((model, lanes, vec / per / mac_cycles, big / per / mac_cycles, big_node))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vector-share", action="store_true", help="also print the vector-unit lane rationale (slow)")
    args = ap.parse_args()
    machines = load_machines()
    print("| parameter | end | value | " + " | ".join(BASELINES) + " | INT4:FP16 | sparse:dense multiplier area |")
    print("|---|---|---|" + "---|" * len(BASELINES) + "---|---|")
    for name, end, value, p in one_at_a_time(machines):
        counts = " | ".join(str(p.multipliers[b]) for b in BASELINES)
        print(f"| `{name}` | {end} | {value:g} | {counts} | {p.int4_to_fp16:.2f} | {p.sparse_to_dense_area:.2f} |")
    box = whole_box(machines)
    print()
    print(f"Whole box ({len(box)} points, every combination of low / default / high):")
    print()
    print("| quantity | min | max |")
    print("|---|---|---|")
    for label, values in (("INT4:FP16 multipliers at equal area", [p.int4_to_fp16 for p in box]),
                          ("SQ-DM sparse:dense multiplier area", [p.sparse_to_dense_area for p in box])):
        print(f"| {label} | {min(values):.2f} | {max(values):.2f} |")
    for b in BASELINES:
        values = [p.multipliers[b] for p in box]
        print(f"| {b} multipliers | {min(values)} | {max(values)} |")
    if args.vector_share:
        lo, hi = machines[REFERENCE].vector_unit.lanes_range or (machines[REFERENCE].vector_unit.lanes,) * 2
        options = tuple(sorted({lo, machines[REFERENCE].vector_unit.lanes, hi}))
        print()
        print("| model | lanes | vector / peak-MAC cycles | largest norm/softmax node / peak-MAC cycles | node |")
        print("|---|---|---|---|---|")
        for model, lanes, share, big, node in vector_share_rows(options):
            print(f"| {model} | {lanes} | {share:.1%} | {big:.2%} | `{node}` |")


if __name__ == "__main__":
    main()
