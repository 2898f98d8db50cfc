"""`sizing:`: multiplier counts derived from an area target at load time (docs/sizing.md)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components import (
    ConfigError,
    list_shipped_configs,
    load_hardware_config,
    load_shipped_config,
    parse_hardware_config,
    shipped_config_path,
)
from components.area import (
    area_breakdown,
    fixed_area_mm2,
    interconnect_um2_per_multiplier,
    multiplier_um2,
    multipliers_for_area,
    pe_um2_per_multiplier,
)

SIZED = ["fp16-dense", "int4-dense", "int4vsq-dense"]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "sizing.md"


def shipped_dict(name: str) -> dict:
    return yaml.safe_load(shipped_config_path(name).read_text())


def parse(d: dict, name: str = "int4-dense"):
    """Parse a (modified) shipped dict as if it lived next to the shipped configs."""
    return parse_hardware_config(d, f"{name}.yaml", shipped_config_path(name).parent)


def write(tmp_path: Path, d: dict, name: str) -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d))
    return p


def config_error(fn, *args) -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        fn(*args)
    assert "\n" not in str(ei.value)
    return ei.value


# ---- shipped machines ----------------------------------------------------------------------------
def test_baselines_are_sized_not_typed():
    for name in SIZED:
        d = shipped_dict(name)
        assert "multipliers" not in d["dense_cluster"], name
        assert d["sizing"]["iso_area_with"] == "sqdm" and d["sizing"]["resize"] == "dense_cluster"


@pytest.mark.parametrize("name", SIZED)
def test_every_sized_machine_within_its_bound_of_the_target(name):
    hw = load_shipped_config(name)
    r = hw.sizing_result()
    assert r is not None and r.derived and r.cluster == "dense_cluster"
    target = load_shipped_config("sqdm").area_mm2().total_mm2
    assert r.target_area_mm2 == pytest.approx(target)
    assert r.area_mm2 == pytest.approx(hw.area_mm2().total_mm2)
    assert abs(r.error_fraction) <= hw.sizing.max_area_error_fraction <= 0.02
    assert r.multipliers == hw.dense_cluster.multipliers
    assert r.multipliers % hw.sizing.multiplier_granularity == 0
    # nearest multiple: one granule either way is no closer to the target
    g = hw.sizing.multiplier_granularity
    err = abs(r.area_mm2 - target)
    for n in (r.multipliers - g, r.multipliers + g):
        other = parse({**shipped_dict(name), "dense_cluster": {**shipped_dict(name)["dense_cluster"], "multipliers": n}}, name)
        assert abs(other.area_mm2().total_mm2 - target) >= err - 1e-12


def test_all_shipped_machines_iso_area():
    target = load_shipped_config("sqdm").area_mm2().total_mm2
    for name in list_shipped_configs():
        assert abs(load_shipped_config(name).area_mm2().total_mm2 - target) / target <= 0.02, name


@pytest.mark.parametrize("name,bytes_per_multiplier", [("fp16-dense", 0.5), ("int4-dense", 0.125), ("int4vsq-dense", 0.125)])
def test_bandwidths_scale_with_the_derived_count(name, bytes_per_multiplier):
    c = load_shipped_config(name).dense_cluster
    assert c.distribution_bw_elems_per_cycle == pytest.approx(0.25 * c.multipliers)
    assert c.reduction_bw_elems_per_cycle == pytest.approx(0.25 * c.multipliers)
    assert c.local_buffer.bytes_per_cycle_per_port == pytest.approx(bytes_per_multiplier * c.multipliers)


def test_derivation_is_deterministic():
    for name in SIZED:
        a, b = load_shipped_config(name), parse(shipped_dict(name), name)
        assert a.dense_cluster == b.dense_cluster
        assert a.sizing_result() == b.sizing_result()
        assert a.area_mm2().total_mm2 == b.area_mm2().total_mm2


def test_loaded_config_dumps_and_loads_again():
    hw = load_shipped_config("int4-dense")
    again = parse(hw.model_dump(), "int4-dense")
    assert again.dense_cluster == hw.dense_cluster
    assert not again.sizing_result().derived  # the dump holds the count: derivation off, same machine


# ---- overrides ------------------------------------------------------------------------------------
def test_set_multipliers_turns_the_derivation_off_and_bandwidth_follows():
    from des.run import load_hardware

    hw = load_hardware("int4-dense", ("dense_cluster.multipliers=1024",))
    c = hw.dense_cluster
    assert c.multipliers == 1024
    assert c.distribution_bw_elems_per_cycle == 256 and c.local_buffer.bytes_per_cycle_per_port == 128
    r = hw.sizing_result()
    assert not r.derived and r.multipliers == 1024
    assert r.error_fraction < -0.02  # reported, not enforced


def test_set_target_area_instead_of_reference():
    from des.run import load_hardware

    err = config_error(load_hardware, "fp16-dense", ("sizing.target_area_mm2=4.0",))
    assert err.field == "sizing" and "iso_area_with" in err.reason and "target_area_mm2" in err.reason
    hw = load_hardware("fp16-dense", ("sizing.iso_area_with=null", "sizing.target_area_mm2=4.0"))
    r = hw.sizing_result()
    assert r.target_from == "target_area_mm2" and abs(hw.area_mm2().total_mm2 - 4.0) / 4.0 < 0.02
    assert hw.dense_cluster.multipliers > load_shipped_config("fp16-dense").dense_cluster.multipliers


def test_explicit_target_area_in_a_file(tmp_path):
    d = shipped_dict("int4-dense")
    d["sizing"] = {"target_area_mm2": 2.95, "resize": "dense_cluster", "multiplier_granularity": 16,
                   "max_area_error_fraction": 0.02}
    hw = load_hardware_config(write(tmp_path, d, "mine.yaml"))
    assert abs(hw.sizing_result().error_fraction) < 0.02


def test_iso_area_with_a_relative_yaml_path(tmp_path):
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "other.yaml").write_text(shipped_config_path("sqdm").read_text())
    d = shipped_dict("int4-dense")
    d["sizing"]["iso_area_with"] = "ref/other.yaml"
    hw = load_hardware_config(write(tmp_path, d, "mine.yaml"))
    assert hw.dense_cluster.multipliers == load_shipped_config("int4-dense").dense_cluster.multipliers


def test_sparse_cluster_can_be_resized():
    d = shipped_dict("sqdm")
    d["sizing"] = {"iso_area_with": "fp16-dense", "resize": "sparse_cluster", "multiplier_granularity": 16,
                   "max_area_error_fraction": 0.02}
    del d["sparse_cluster"]["multipliers"]
    hw = parse(d, "sqdm")
    assert abs(hw.sizing_result().error_fraction) <= 0.02 and hw.sparse_cluster.multipliers % 16 == 0


# ---- bad sizing: one line, naming the field -------------------------------------------------------
def _sizing(**kw) -> dict:
    """int4-dense with its sizing section changed by `kw` (None removes a key)."""
    d = shipped_dict("int4-dense")
    d["sizing"] = {k: v for k, v in {**d["sizing"], **kw}.items() if v is not None}
    return d


BAD = [
    ("unknown config", _sizing(iso_area_with="nope"), "sizing.iso_area_with", "no shipped config"),
    ("missing file", _sizing(iso_area_with="missing.yaml"), "sizing.iso_area_with", "cannot read"),
    ("both targets", _sizing(target_area_mm2=3.0), "sizing", "got both"),
    ("no target", _sizing(iso_area_with=None), "sizing", "got neither"),
    ("absent cluster", _sizing(resize="sparse_cluster"), "sizing.resize", "not a section"),
    ("unknown cluster", _sizing(resize="tensor_cluster"), "sizing.resize", "dense_cluster"),
    ("below the fixed area", _sizing(iso_area_with=None, target_area_mm2=1.0), "sizing.target_area_mm2", "not above"),
    ("too coarse", _sizing(multiplier_granularity=4096, max_area_error_fraction=0.001), "sizing.multiplier_granularity", "from the target"),
    ("bad granularity", _sizing(multiplier_granularity=0), "sizing.multiplier_granularity", "greater than 0"),
    ("bad bound", _sizing(max_area_error_fraction=2.0), "sizing.max_area_error_fraction", "less than 1"),
    ("unknown key", _sizing(turbo=True), "sizing.turbo", "unknown key"),
]


@pytest.mark.parametrize("data,field,reason", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_sizing_is_one_line_naming_the_field(data, field, reason):
    err = config_error(parse, data)
    assert err.field == field, str(err)
    assert reason.lower() in str(err).lower(), str(err)
    assert str(err).startswith("int4-dense.yaml: ")


def test_sizing_not_a_mapping():
    d = shipped_dict("int4-dense")
    d["sizing"] = "sqdm"
    assert config_error(parse, d).field == "sizing"


def test_self_reference_is_a_cycle(tmp_path):
    d = shipped_dict("int4-dense")
    d["sizing"]["iso_area_with"] = "me.yaml"
    p = write(tmp_path, d, "me.yaml")
    err = config_error(load_hardware_config, p)
    assert err.field == "sizing.iso_area_with" and "cycle" in err.reason and "me.yaml -> me.yaml" in err.reason
    # parsed from a dict (no own path): the loop is found one reference deeper
    err = config_error(parse_hardware_config, copy.deepcopy(d), "dict", tmp_path)
    assert err.field == "sizing.iso_area_with" and "cycle" in str(err)


def test_reference_loop_is_a_cycle(tmp_path):
    a, b = shipped_dict("int4-dense"), shipped_dict("fp16-dense")
    a["sizing"]["iso_area_with"], b["sizing"]["iso_area_with"] = "b.yaml", "a.yaml"
    write(tmp_path, b, "b.yaml")
    err = config_error(load_hardware_config, write(tmp_path, a, "a.yaml"))
    assert err.field == "sizing.iso_area_with" and "a.yaml -> b.yaml -> a.yaml" in str(err)


def test_bad_reference_is_reported_through_the_field(tmp_path):
    bad = shipped_dict("sqdm")
    bad["clock_ghz"] = -1.0
    write(tmp_path, bad, "bad.yaml")
    d = shipped_dict("int4-dense")
    d["sizing"]["iso_area_with"] = "bad.yaml"
    err = config_error(load_hardware_config, write(tmp_path, d, "mine.yaml"))
    assert err.field == "sizing.iso_area_with" and "clock_ghz" in err.reason


def test_per_multiplier_and_absolute_must_agree():
    d = shipped_dict("int4-dense")
    d["dense_cluster"]["multipliers"] = 1024
    d["dense_cluster"]["distribution_bw_elems_per_cycle"] = 256  # = 0.25 x 1024: accepted
    assert parse(copy.deepcopy(d)).dense_cluster.distribution_bw_elems_per_cycle == 256
    d["dense_cluster"]["distribution_bw_elems_per_cycle"] = 300
    err = config_error(parse, d)
    assert err.field == "dense_cluster" and "distribution_bw_elems_per_cycle_per_multiplier" in err.reason


def test_missing_bandwidth_names_the_field():
    d = shipped_dict("int4-dense")
    del d["dense_cluster"]["distribution_bw_elems_per_cycle_per_multiplier"]
    assert config_error(parse, d).field == "dense_cluster.distribution_bw_elems_per_cycle"


# ---- the solver -----------------------------------------------------------------------------------
TARGETS = st.floats(min_value=2.2, max_value=40.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(a=TARGETS, b=TARGETS, name=st.sampled_from(["fp16-dense", "int4-dense", "sqdm-sparse"]),
       g=st.sampled_from([1, 16, 64]))
def test_larger_target_never_fewer_multipliers(a, b, name, g):
    hw, cluster = (load_shipped_config("sqdm"), "sparse_cluster") if name == "sqdm-sparse" else (load_shipped_config(name), "dense_cluster")
    if name == "sqdm-sparse":  # one Benes network over the whole array: per-multiplier area grows with log2 N
        hw = hw.model_copy(update={"sparse_cluster": hw.sparse_cluster.model_copy(update={"benes_group_multipliers": None})})
    lo, hi = sorted((a, b))
    if lo <= fixed_area_mm2(hw, cluster):
        return
    assert multipliers_for_area(hw, cluster, lo, g) <= multipliers_for_area(hw, cluster, hi, g)


def test_larger_target_area_in_config_never_fewer_multipliers():
    counts = []
    for target in (2.6, 2.95, 3.0, 3.5, 5.0):
        d = shipped_dict("fp16-dense")
        d["sizing"] |= {"iso_area_with": None, "target_area_mm2": target}
        counts.append(parse(d, "fp16-dense").dense_cluster.multipliers)
    assert counts == sorted(counts) and counts[0] < counts[-1]


# ---- docs ----------------------------------------------------------------------------------------
def test_docs_per_multiplier_areas_match_the_model():
    text = DOCS.read_text()
    rows = re.findall(r"^\| (\S+) \| (dense_cluster|sparse_cluster) \| [^|]+ \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \| (\d+) \|$",
                      text, flags=re.M)
    assert len(rows) == 5
    for machine, cluster, arith, net, total, count in rows:
        hw = load_shipped_config(machine)
        c, t = getattr(hw, cluster), hw.area_table()
        assert float(arith) == pytest.approx(multiplier_um2(c, t), abs=0.05), (machine, cluster)
        assert float(net) == pytest.approx(interconnect_um2_per_multiplier(cluster, c, t), abs=0.05)
        assert float(total) == pytest.approx(pe_um2_per_multiplier(cluster, c, t), abs=0.05)
        assert int(count) == c.multipliers


def test_docs_before_after_table_matches():
    text = DOCS.read_text()
    target = load_shipped_config("sqdm").area_mm2().total_mm2
    for name in SIZED:
        m = re.search(rf"^\| {name} \| \d+ \| (\d+) \| ([0-9.]+) \| ([+-][0-9.]+)% \|$", text, flags=re.M)
        assert m, name
        hw = load_shipped_config(name)
        assert int(m.group(1)) == hw.dense_cluster.multipliers
        assert float(m.group(2)) == pytest.approx(hw.area_mm2().total_mm2, abs=0.0005)
        assert float(m.group(3)) == pytest.approx(100 * (hw.area_mm2().total_mm2 - target) / target, abs=0.005)


# ---- fuzz ----------------------------------------------------------------------------------------
_sizing_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["sqdm", "fp16-dense", "int4-dense", "dense_cluster", "sparse_cluster", "x.yaml", "/", ".", ""]),
)


@settings(max_examples=150, deadline=None)
@given(changes=st.dictionaries(
    st.sampled_from(["iso_area_with", "target_area_mm2", "resize", "multiplier_granularity", "max_area_error_fraction", "x"]),
    _sizing_values, max_size=4))
def test_fuzz_sizing_only_raises_config_error(changes):
    d = shipped_dict("int4-dense")
    d["sizing"] = {**d["sizing"], **changes}
    try:
        hw = parse(d)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("int4-dense.yaml: ")
        return
    r = hw.sizing_result()
    assert r is not None and r.derived and abs(r.error_fraction) <= hw.sizing.max_area_error_fraction


def test_reference_is_priced_with_this_configs_area_table(tmp_path):
    from components.area import iso_area_multipliers
    from components.tables import DEFAULT_AREA_TABLE, load_area_table

    table = yaml.safe_load(DEFAULT_AREA_TABLE.read_text())
    table["noc_switch_um2_per_bit"]["um2"] = 8.0
    (tmp_path / "wide_switches.yaml").write_text(yaml.safe_dump(table))
    d = shipped_dict("fp16-dense")
    d["area"]["table_file"] = "wide_switches.yaml"
    hw = load_hardware_config(write(tmp_path, d, "fp16.yaml"))
    t = load_area_table(tmp_path / "wide_switches.yaml")
    assert hw.sizing_result().target_area_mm2 == pytest.approx(area_breakdown(load_shipped_config("sqdm"), t).total_mm2)
    assert hw.dense_cluster.multipliers == iso_area_multipliers(load_shipped_config("fp16-dense"), load_shipped_config("sqdm"), t)
    assert hw.dense_cluster.multipliers != load_shipped_config("fp16-dense").dense_cluster.multipliers
