"""HardwareConfig loading: shipped configs, every kind of validation error, and a loader fuzz test."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import (
    FORMATS,
    ConfigError,
    HardwareConfig,
    UnsupportedFormatError,
    hardware_config_from_yaml,
    list_shipped_configs,
    load_hardware_config,
    load_shipped_config,
    parse_hardware_config,
    shipped_config_path,
)

SHIPPED = ["fp16-dense", "int4-dense", "int4vsq-dense", "sqdm"]


def sqdm_dict() -> dict:
    return yaml.safe_load(shipped_config_path("sqdm").read_text())


def write(tmp_path: Path, data, name: str = "hw.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


# ---- shipped configs ---------------------------------------------------------------------------
def test_shipped_configs_listed_and_load():
    assert list_shipped_configs() == SHIPPED
    for name in SHIPPED:
        hw = load_shipped_config(name)
        assert isinstance(hw, HardwareConfig)
        assert hw.name == name
        assert hw.clock_ghz == 1.0
        assert hw.area_mm2().total_mm2 > 0


def test_sqdm_has_both_clusters_and_detector():
    hw = load_shipped_config("sqdm")
    assert hw.dense_cluster is not None and hw.sparse_cluster is not None
    assert hw.detector is not None and hw.detector.threshold == pytest.approx(0.30)
    assert hw.detector.policy == "per_step"
    assert hw.dram.address_mapping == "channel_last"
    for c in (hw.dense_cluster, hw.sparse_cluster):
        assert c.rate("int4_e4m3") == 1.0 and c.rate("mxint8") == 0.5
        with pytest.raises(UnsupportedFormatError, match="fp16"):
            c.rate("fp16")


@pytest.mark.parametrize("name,fmt", [("int4-dense", "int4"), ("int4vsq-dense", "int4_vsq"), ("fp16-dense", "fp16")])
def test_baselines_dense_only(name, fmt):
    hw = load_shipped_config(name)
    assert hw.sparse_cluster is None and hw.detector is None
    assert hw.dense_cluster.rate(fmt) == 1.0


def test_shipped_configs_roughly_iso_area_and_documented():
    ref = load_shipped_config("sqdm").area_mm2().total_mm2
    for name in SHIPPED:
        total = load_shipped_config(name).area_mm2().total_mm2
        assert abs(total - ref) / ref < 0.05, (name, total, ref)
        text = shipped_config_path(name).read_text()
        m = re.search(r"total ([0-9.]+) mm2", text)
        assert m, f"{name}: area comment missing"
        assert float(m.group(1)) == pytest.approx(total, abs=0.0015), f"{name}: area comment out of date"


def test_fp16_baseline_has_fewer_larger_multipliers():
    sq, fp = load_shipped_config("sqdm"), load_shipped_config("fp16-dense")
    assert fp.dense_cluster.multipliers < sq.dense_cluster.multipliers + sq.sparse_cluster.multipliers


def test_model_validate_from_dict_and_unknown_shipped():
    hw = HardwareConfig.model_validate(sqdm_dict())
    assert hw.sparse_cluster.multipliers == 1024
    with pytest.raises(ConfigError, match="no shipped config"):
        load_shipped_config("nope")


def test_energy_table_overrides_apply():
    d = sqdm_dict()
    d["energy"]["mac_pj"] = {"int4": 1.25}
    d["dram"]["energy_pj_per_bit"] = 3.0
    hw = parse_hardware_config(d)
    assert hw.energy_table().mac_pj["int4"] == 1.25
    assert hw.dram_energy_pj_per_bit() == 3.0


# ---- validation errors -------------------------------------------------------------------------
def _set(d: dict, path: str, value) -> None:
    keys = path.split(".")
    for k in keys[:-1]:
        d = d[k]
    if value is _DELETE:
        del d[keys[-1]]
    else:
        d[keys[-1]] = value


_DELETE = object()

BAD = [
    ("dram.channels", -1, "dram.channels", "greater than 0"),
    ("global_buffer.capacity_bytes", 0, "global_buffer.capacity_bytes", "greater than 0"),
    ("dram.bandwidth_gbytes_per_s", "fast", "dram.bandwidth_gbytes_per_s", "number"),
    ("dram.channels", 4.5, "dram.channels", "integer"),
    ("dram.channels", True, "dram.channels", "integer"),
    ("global_buffer.double_buffered", "yes", "global_buffer.double_buffered", "boolean"),
    ("dense_cluster.rates", {"int4": 1.0, "fp17": 1.0}, "dense_cluster.rates.fp17", "fp16"),
    ("dense_cluster.rates", {}, "dense_cluster.rates", "at least 1"),
    ("dram.address_mapping", "diagonal", "dram.address_mapping", "channel_last"),
    ("dram.foo", 1, "dram.foo", "unknown key"),
    ("turbo", True, "turbo", "unknown key"),
    ("clock_ghz", float("nan"), "clock_ghz", "finite"),
    ("clock_ghz", float("inf"), "clock_ghz", "finite"),
    ("sparse_cluster.load_imbalance", 0.9, "sparse_cluster.load_imbalance", "greater than or equal to 1"),
    ("detector.threshold", 1.5, "detector.threshold", "less than 1"),
    ("detector.policy", "magic", "detector.policy", "unknown policy"),
    ("detector.policy", "every_k", "detector", "needs detector.k"),
    ("detector", _DELETE, "<root>", "needs a detector"),
    ("vector_unit", _DELETE, "vector_unit", "Field required"),
    ("dram.row_bytes", 32, "dram", "row_bytes"),
    ("dram.technology", "ddr9", "dram.technology", "not in the energy table"),
    ("energy.table_file", "missing_table.yaml", "energy.table_file", "cannot read"),
    ("energy.static_power_mw", {"gpu": 1.0}, "energy.static_power_mw", "unknown component"),
    ("dense_cluster.local_buffer.ports", 0, "dense_cluster.local_buffer.ports", "greater than 0"),
    ("dense_cluster.multipliers", 2**60, "dense_cluster.multipliers", "less than or equal"),
]


@pytest.mark.parametrize("path,value,field,reason", BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_validation_errors_name_file_field_and_reason(tmp_path, path, value, field, reason):
    d = sqdm_dict()
    _set(d, path, value)
    p = write(tmp_path, d)
    with pytest.raises(ConfigError) as ei:
        load_hardware_config(p)
    err = ei.value
    msg = str(err)
    assert "\n" not in msg
    assert msg.startswith(str(p) + ": ")
    assert err.field == field, msg
    assert reason.lower() in msg.lower(), msg
    assert isinstance(err, ValueError)


def test_bad_yaml(tmp_path):
    p = write(tmp_path, "dram: {channels: 4\nclock_ghz: [1,\n")
    with pytest.raises(ConfigError) as ei:
        load_hardware_config(p)
    assert ei.value.field == "<yaml>" and str(p) in str(ei.value) and "line" in str(ei.value)


def test_missing_file(tmp_path):
    p = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as ei:
        load_hardware_config(p)
    assert str(p) in str(ei.value) and "cannot read" in str(ei.value)


@pytest.mark.parametrize("text", ["", "- 1\n- 2\n", "42\n", "just a string\n"])
def test_not_a_mapping(tmp_path, text):
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_hardware_config(write(tmp_path, text))


def test_all_errors_reported_on_one_line(tmp_path):
    d = sqdm_dict()
    d["dram"]["channels"] = -1
    d["clock_ghz"] = "fast"
    with pytest.raises(ConfigError) as ei:
        load_hardware_config(write(tmp_path, d))
    assert len(ei.value.all_errors) == 2 and "\n" not in str(ei.value) and "+1 more" in str(ei.value)


def test_bad_energy_table_names_table_and_field(tmp_path):
    table = yaml.safe_load((Path(__file__).resolve().parents[2] / "components/data/energy_28nm.yaml").read_text())
    del table["noc_hop_pj"]["assumption"]
    write(tmp_path, table, "my_energy.yaml")
    d = sqdm_dict()
    d["energy"]["table_file"] = "my_energy.yaml"  # found next to the config
    with pytest.raises(ConfigError) as ei:
        load_hardware_config(write(tmp_path, d))
    msg = str(ei.value)
    assert ei.value.field == "energy.table_file" and "my_energy.yaml" in msg and "noc_hop_pj" in msg and "source" in msg


def test_formats_closed_set():
    assert set(FORMATS) == {"fp16", "int8", "mxint8", "int4", "int4_pc", "int4_vsq", "int4_e4m3", "uint4_e4m3"}


# ---- fuzz --------------------------------------------------------------------------------------
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(list(FORMATS) + ["channel_last", "interleaved", "per_step", "every_k", "lpddr4", "energy_28nm.yaml"]),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers(), st.sampled_from(FORMATS)), children, max_size=4),
    ),
    max_leaves=12,
)


def _paths(d, prefix=()):
    yield prefix
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, prefix + (k,))


@st.composite
def mutated_configs(draw):
    d = sqdm_dict()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(d) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "delete", "add", "scale"]))
        if action == "replace":
            parent[path[-1]] = draw(_values)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(max_size=8))] = draw(_values)
        elif action == "scale" and isinstance(parent[path[-1]], (int, float)) and not isinstance(parent[path[-1]], bool):
            parent[path[-1]] = parent[path[-1]] * draw(st.sampled_from([-1, 0, 0.5, 1e300, 2**60]))
    return d


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_configs(), _values, st.dictionaries(st.text(max_size=10), _values, max_size=6)))
def test_fuzz_loader_only_raises_config_error(data):
    try:
        hw = parse_hardware_config(copy.deepcopy(data), source="fuzz.yaml")
    except ConfigError as exc:
        msg = str(exc)
        assert msg.startswith("fuzz.yaml: ") and "\n" not in msg
        return
    assert isinstance(hw, HardwareConfig)
    area = hw.area_mm2().total_mm2
    assert math.isfinite(area) and area > 0


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_yaml_text_only_raises_config_error(text):
    try:
        hardware_config_from_yaml(text, source="fuzz.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc)
