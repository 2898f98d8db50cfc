"""Precision policies: matching rules to graph node ids, annotating workload graphs, errors."""
import pytest

from quant import PolicyError, QuantError, apply_policy, builtin_policies, load_policy, mac_share_by_bits
from workloads import read_graph, write_graph

MAC = ("conv", "linear", "matmul")


def test_builtins_present():
    names = builtin_policies()
    for n in ("fp32", "int4", "int4-vsq", "w4a8", "sqdm", "sqdm-all4"):
        assert n in names


@pytest.mark.parametrize("name", ["fp32", "int4", "int4-vsq", "w4a8", "sqdm", "sqdm-all4"])
def test_every_mac_node_annotated(name, relu_graph):
    g = apply_policy(relu_graph, name)
    macs = [n for n, d in g.nodes(data=True) if d.get("kind") in MAC]
    assert macs
    for n in macs:
        d = g.nodes[n]
        assert {"weight_format", "act_format", "weight_bits", "act_bits", "precision_bits"} <= set(d)
    assert g.graph["precision"]["policy"] == name
    share = g.graph["precision"]["mac_share_by_bits"]
    assert sum(share.values()) == pytest.approx(1.0)
    # the input graph is not modified
    assert all("weight_format" not in d for _, d in relu_graph.nodes(data=True))


def test_sqdm_formats_by_eligibility(relu_graph):
    g = apply_policy(relu_graph, "sqdm")
    pol = load_policy("sqdm")
    eight = {n for n, d in g.nodes(data=True) if d.get("precision_bits") == 8}
    assert eight, "the default policy keeps some layers at 8 bits"
    for n, d in g.nodes(data=True):
        if d.get("kind") in ("conv", "linear") and n not in eight:
            assert d["weight_format"].startswith("int4_e4m3_v16")
            assert d["act_format"] == ("uint4_e4m3_v16" if d["sparse_eligible"] else "int4_e4m3_v16")
            assert d["weight_bits"] == pytest.approx(4.5) and d["act_bits"] == pytest.approx(4.5)
    share = mac_share_by_bits(relu_graph, pol)
    assert g.graph["precision"]["mac_share_8bit"] == pytest.approx(share[8])
    assert 0 < share[8] < 0.2


def test_rules_first_match_module_path_regex_filters(relu_graph):
    pol = load_policy({"name": "t", "rules": [
        {"match": "conv_in", "weight": "mxint8", "act": "mxint8"},           # module path pattern
        {"regex": r"up\.1\..*:conv2d", "weight": "int8", "act": "int8"},      # node-id regex
        {"match": "*", "kind": "linear", "weight": "fp16", "act": "fp16"},
        {"match": "*", "sparse_eligible": True, "weight": "int4_pc", "act": "uint4"},
        {"match": "*", "weight": "int4", "act": "int4"},
    ]})
    g = apply_policy(relu_graph, pol)
    assert g.nodes["conv_in:conv2d"]["weight_format"] == "mxint8"
    assert g.nodes["up.1.blocks.0.conv1:conv2d"]["act_format"] == "int8"
    assert g.nodes["mid.0.affine:linear"]["act_format"] == "fp16"
    assert g.nodes["mid.0.conv0:conv2d"]["act_format"] == "uint4"
    assert g.nodes["mid.0.attn.qkv:conv2d"]["act_format"] == "int4"
    assert g.nodes["mid.0.attn.qkv:conv2d"]["precision_bits"] == 4


def test_annotations_survive_workload_file(tmp_path, relu_graph):
    g = apply_policy(relu_graph, "sqdm")
    h = read_graph(write_graph(g, tmp_path / "g.json"))
    for n, d in g.nodes(data=True):
        if "weight_format" in d:
            assert h.nodes[n]["weight_format"] == d["weight_format"]
            assert h.nodes[n]["act_bits"] == d["act_bits"]


@pytest.mark.parametrize("policy,match", [
    ("no-such-policy", "no such file or built-in"),
    ({"name": "x", "rules": []}, "non-empty list"),
    ({"name": "x", "rules": [{"match": "*", "weight": "int3", "act": "int4"}]}, "unknown format"),
    ({"name": "x", "rules": [{"match": "*", "weight": "int4", "act": "int4", "colour": 1}]}, "unknown key"),
    ({"name": "x", "rules": [{"match": "*", "act": "int4"}]}, "'weight'"),
    ({"name": "x", "rules": [{"regex": "(", "weight": "int4", "act": "int4"}]}, "bad regex"),
    ({"name": "x", "rules": [{"match": "*", "kind": "pool", "weight": "int4", "act": "int4"}]}, "kind"),
])
def test_bad_policies(policy, match):
    with pytest.raises(PolicyError, match=match) as e:
        load_policy(policy)
    assert isinstance(e.value, QuantError) and isinstance(e.value, ValueError)
    assert "\n" not in str(e.value)


def test_unmatched_node_is_an_error(relu_graph):
    with pytest.raises(PolicyError, match="no rule matches"):
        apply_policy(relu_graph, {"name": "x", "rules": [{"match": "conv_in", "weight": "int4", "act": "int4"}]})


def test_bad_yaml_file(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("rules: [unclosed\n")
    with pytest.raises(PolicyError, match="unreadable"):
        load_policy(p)
