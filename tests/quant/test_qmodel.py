"""Fake-quantized models: fast paths equal the formats exactly; every built-in policy runs."""
import pytest
import torch

from quant import DDIMSampler, builtin_policies, quantize_model
from quant.formats import get_format
from quant.qmodel import ActQuantizer


def _bits(a):
    return a.contiguous().view(torch.int32)


@pytest.mark.parametrize("name", ["uint4_e4m3_v16", "int4_e4m3_v16", "int4_vsq_v16_s6", "uint4_e4m3_v32"])
@pytest.mark.parametrize("shape", [(5, 32, 8, 8), (3, 64, 4, 4), (4, 128)])
def test_fast_vector_path_bit_identical(name, shape):
    g = torch.Generator().manual_seed(hash((name, shape)) % 1000)
    x = torch.randn(shape, generator=g) * 3
    if name.startswith("u"):
        x = x.relu()
    x[0, :2] = 0  # all-zero vectors
    x[1] *= 1e-4  # tiny vectors: E4M3 subnormal / zero scales
    aq = ActQuantizer(name)
    assert torch.equal(_bits(aq(x, None, fast=True)), _bits(aq(x, None, fast=False)))


@pytest.mark.parametrize("name", ["int4", "uint4", "int8"])
def test_fast_static_path_bit_identical(name):
    x = torch.randn(4, 32, 8, 8, generator=torch.Generator().manual_seed(1)) * 2
    if name == "uint4":
        x = x.relu()
    aq = ActQuantizer(name)
    aq.observe(x, 0)
    y = x * 1.5  # values beyond the calibrated range saturate
    assert torch.equal(_bits(aq(y, 0, fast=True)), _bits(aq(y, 0, fast=False)))


def test_uncalibrated_static_format_raises():
    from quant import QuantError
    with pytest.raises(QuantError, match="not calibrated"):
        ActQuantizer("int4")(torch.ones(1, 2, 2, 2), 0)


def test_fp32_policy_is_exact(relu_model):
    x, t = torch.randn(4, 1, 8, 8), torch.full((4,), 300.0)
    qm = quantize_model(relu_model, "fp32")
    with torch.no_grad():
        assert torch.equal(qm(x, t), relu_model(x, t))


@pytest.mark.parametrize("policy", ["int4", "int4-vsq", "w4a8", "sqdm", "sqdm-all4", "fp16"])
def test_quantized_model_runs(policy, relu_model, relu_graph):
    assert policy in builtin_policies()
    qm = quantize_model(relu_model, policy, graph=relu_graph)
    s = DDIMSampler(3)
    qm.calibrate(s, torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(5)))
    out = s.sample(qm, torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (4, 1, 8, 8) and torch.isfinite(out).all()
    # weights are the format's fake-quantization of the original weights
    mods = dict(qm.net.named_modules())
    orig = dict(relu_model.named_modules())
    for n, rule in qm.assignments.items():
        d = relu_graph.nodes[n]
        if d["kind"] == "matmul" or rule.weight == "fp32":
            continue
        w = mods[d["module"]].weight
        assert torch.equal(get_format(rule.weight).quantize(orig[d["module"]].weight), w), n


def test_original_model_untouched(relu_model):
    before = {k: v.clone() for k, v in relu_model.state_dict().items()}
    quantize_model(relu_model, "sqdm")
    for k, v in relu_model.state_dict().items():
        assert torch.equal(v, before[k])


def test_attention_matmuls_quantized(relu_model):
    from quant import QuantError
    x, t = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(2)), torch.full((4,), 300.0)
    only_mm = lambda f: {"name": "mm", "rules": [{"kind": "matmul", "weight": f, "act": f},
                                                 {"match": "*", "weight": "fp32", "act": "fp32"}]}
    with torch.no_grad():
        ref = relu_model(x, t)
        assert torch.equal(quantize_model(relu_model, only_mm("fp32"))(x, t), ref)
        y = quantize_model(relu_model, only_mm("mxint8"))(x, t)
        z = quantize_model(relu_model, only_mm("int4_e4m3_v16"))(x, t)
    assert 0 < (y - ref).abs().max() < (z - ref).abs().max()
    with pytest.raises(QuantError, match="calibrated scale"):
        quantize_model(relu_model, only_mm("int8"))
