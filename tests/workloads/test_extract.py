"""Zoo models and graph extraction: sizes, MACs against an independent counter, DAG shape, ids, eligibility."""
import networkx as nx
import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from workloads import (ZOO, UnsupportedOpError, WorkloadError, build_workload, eligible_nodes, extract_graph,
                       get_model)

# Published parameter counts (DDPM paper 35.7 M; EDM DDPM++ CIFAR-10 55.7 M; ADM ImageNet-64 296 M;
# SD 1.5 UNet 859.5 M). tiny-digits is ours.
PARAMS_M = {"ddpm-cifar10": 35.7, "edm-cifar10": 55.7, "adm-imagenet64": 296.0, "sd15-unet": 859.5,
            "tiny-digits": 0.749}


@pytest.fixture(scope="module", params=list(ZOO))
def model_and_graph(request):
    name = request.param
    entry = get_model(name)
    model = entry.build("relu", device="meta")
    inputs = entry.example_inputs(1, device="meta")
    return name, model, inputs, extract_graph(model, inputs, name=name)


def test_parameter_counts_match_published(model_and_graph):
    name, _, _, g = model_and_graph
    assert g.graph["parameters"] / 1e6 == pytest.approx(PARAMS_M[name], rel=0.01)


def test_macs_match_flop_counter(model_and_graph):
    # Reference: torch's FlopCounterMode / 2, with attention forced through the math backend so the CPU
    # fused kernel (which the counter does not see) is not used.
    name, model, inputs, g = model_and_graph
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        model(*inputs)
    ref = fc.get_total_flops() / 2
    assert ref > 0
    assert g.graph["macs"] == pytest.approx(ref, rel=0.01)


def test_graph_is_dag_in_execution_order(model_and_graph):
    _, _, _, g = model_and_graph
    assert nx.is_directed_acyclic_graph(g)
    orders = [d["order"] for _, d in g.nodes(data=True)]
    assert orders == list(range(g.number_of_nodes()))
    assert all(g.nodes[u]["order"] < g.nodes[v]["order"] for u, v in g.edges)
    assert nx.is_weakly_connected(g)


def test_skip_edges_join_encoder_to_decoder_concats(model_and_graph):
    _, _, _, g = model_and_graph
    concats = [n for n, d in g.nodes(data=True) if d["op"] == "concat" and "time" not in d["block"]
               and "emb" not in d["block"]]
    assert concats, "a UNet decoder concatenates skips"
    skip_into_concat = [n for n in concats if any(g.edges[u, n]["kind"] == "skip" for u in g.predecessors(n))]
    assert len(skip_into_concat) >= len(concats) // 2
    for n in skip_into_concat:
        for u in g.predecessors(n):
            if g.edges[u, n]["kind"] == "skip":
                assert g.nodes[u]["block_index"] < g.nodes[n]["block_index"]


def test_relu_model_marks_eligible_ops(model_and_graph):
    _, _, _, g = model_and_graph
    elig = eligible_nodes(g)
    assert elig
    for n in elig:
        d = g.nodes[n]
        assert d["kind"] in ("conv", "linear", "matmul")
        src = d["sparse_source"]
        assert g.nodes[src]["op"] == "relu"
        assert nx.has_path(g, src, n)
    assert not any(d["op"] == "silu" for _, d in g.nodes(data=True))


def test_silu_model_marks_none():
    for name in ("ddpm-cifar10", "tiny-digits"):
        g = build_workload(name, activation="silu")
        assert not eligible_nodes(g)
        assert any(d["op"] == "silu" for _, d in g.nodes(data=True))


def test_ddpm_cifar10_size_and_ids():
    g = build_workload("ddpm-cifar10", activation="relu")
    assert g.graph["macs"] / 1e9 == pytest.approx(6.22, rel=0.01)
    # diffusers' ResNet block calls one activation module three times: ids carry the call index
    ids = set(g.nodes)
    assert "down_blocks.0.resnets.0.nonlinearity:relu" in ids
    assert "down_blocks.0.resnets.0.nonlinearity#2:relu" in ids
    assert "down_blocks.0.resnets.0.conv1:conv2d" in ids
    assert g.nodes["down_blocks.0.resnets.0.conv1:conv2d"]["sparse_eligible"]
    # the residual add has an edge from the block input (non-adjacent, same block)
    assert any(g.edges[e]["kind"] == "residual" for e in g.in_edges("down_blocks.0.resnets.0:add.1")) or \
        any(d["kind"] == "residual" for *_, d in g.edges(data=True))
    # stable ids and attributes across runs
    g2 = build_workload("ddpm-cifar10", activation="relu")
    assert list(g2.nodes) == list(g.nodes)
    assert dict(g2.nodes(data=True)) == dict(g.nodes(data=True))


def test_positions_pick_first_and_last_layers():
    g = build_workload("tiny-digits")
    macs = sorted((d["mac_index"], n) for n, d in g.nodes(data=True) if d["mac_index"] >= 0)
    assert [i for i, _ in macs] == list(range(len(macs)))
    convs = [n for _, n in macs if g.nodes[n]["kind"] == "conv"]
    first, last = convs[0], convs[-1]
    assert g.nodes[first]["module"] == "conv_in"
    assert g.nodes[last]["module"] == "conv_out" and g.nodes[last]["mac_index_from_end"] == 0
    assert g.nodes[macs[0][1]]["mac_index_from_end"] == len(macs) - 1


def test_batch_and_cfg_scale_macs():
    g1 = build_workload("tiny-digits", batch=1)
    g3 = build_workload("tiny-digits", batch=3)
    gc = build_workload("tiny-digits", batch=3, cfg=True)
    assert g3.graph["macs"] == 3 * g1.graph["macs"]
    assert gc.graph["macs"] == 6 * g1.graph["macs"]
    assert gc.graph["config"]["effective_batch"] == 6


def test_user_module():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 3, padding=1)
            self.act = nn.ReLU()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            h = self.act(self.conv(x))
            return self.fc(h.mean(dim=(2, 3)))

    g = extract_graph(Tiny(), (torch.zeros(2, 4, 5, 5),), name="tiny")
    conv = g.nodes["conv:conv2d"]
    assert conv["macs"] == 2 * 8 * 5 * 5 * 4 * 9
    assert conv["weight_shape"] == [8, 4, 3, 3] and conv["weight_elements"] == 8 * 4 * 9 + 8
    assert g.nodes["fc:linear"]["macs"] == 2 * 8 * 2
    assert not g.nodes["fc:linear"]["sparse_eligible"]  # fed by the mean, not the relu
    assert g.graph["parameters"] == sum(p.numel() for p in Tiny().parameters())


def test_unsupported_op_names_op_and_module():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Identity()

        def forward(self, x):
            return torch.cumsum(self.inner(x), dim=1)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.odd = Odd()

        def forward(self, x):
            return self.odd(x)

    with pytest.raises(UnsupportedOpError, match=r"aten\.cumsum.*'odd'"):
        extract_graph(Wrap(), (torch.zeros(2, 3),))


@pytest.mark.parametrize("kwargs,match", [
    (dict(model="nope"), "unknown model 'nope'"),
    (dict(model="ddpm-cifar10", resolution=30), "resolution 30 not supported"),
    (dict(model="ddpm-cifar10", resolution=0), "resolution 0 not supported"),
    (dict(model="tiny-digits", batch=0), "batch 0"),
    (dict(model="tiny-digits", activation="gelu"), "activation: unknown 'gelu'"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(WorkloadError, match=match):
        build_workload(**kwargs)
