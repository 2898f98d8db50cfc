"""Measured sparsity profiles from the committed ReLU weights: attach, round trip, mean, fit, heatmap."""
import numpy as np
import pytest
import torch

from quant import fit_synthetic, profile_sparsity
from workloads import SparsityProfile, eligible_nodes, synthetic_profile


@pytest.fixture(scope="module")
def profile(relu_model):
    return profile_sparsity(relu_model, steps=5, policy="sqdm", samples=24, seed=0, tile_channels=8)


def test_profile_attaches_and_round_trips(profile, relu_graph, tmp_path):
    assert profile.kind == "measured" and profile.steps == 5 and profile.tile_channels == 8
    assert set(profile.node_ids) == set(eligible_nodes(relu_graph))
    g = profile.attach(relu_graph)
    n = eligible_nodes(relu_graph)[3]
    assert g.nodes[n]["zero_fraction"].shape == (5, relu_graph.nodes[n]["in_channels"])
    back = SparsityProfile.load(profile.save(tmp_path / "p.npz"))
    back.validate(relu_graph)
    assert back.info == profile.info
    for k in profile.node_ids:
        assert np.array_equal(back.zero_fraction[k], profile.zero_fraction[k])
        assert np.array_equal(back.tile_zero_fraction[k], profile.tile_zero_fraction[k])


def test_profile_mean_at_least_half(profile):
    assert profile.mean() >= 0.5
    assert profile.info["mean_mac_weighted"] >= 0.5


def test_tiles_never_sparser_than_their_channels(profile):
    G = profile.tile_channels
    for n in profile.node_ids:
        z, t = profile.zero_fraction[n], profile.tile_zero_fraction[n]
        assert t.shape[1] == -(-z.shape[1] // G)
        for j in range(t.shape[1]):
            assert np.all(t[:, j] <= z[:, j * G:(j + 1) * G].min(axis=1) + 1e-6)


def test_info_and_fitted_synthetic(profile, relu_graph):
    info = profile.info
    assert info["sampler"] == "ddim" and info["steps"] == 5 and info["seed"] == 0 and info["samples"] == 24
    assert "evaluation" in info and info["policy"] == "sqdm"
    f = info["fitted_synthetic"]
    syn = synthetic_profile(relu_graph, 5, seed=1, **{k: f[k] for k in
                            ("mean", "channel_spread", "node_spread", "drift_per_step", "reference_steps",
                             "step_noise", "smooth_noise", "smooth_noise_root")})
    assert syn.mean() == pytest.approx(profile.mean(), abs=1e-4)


def test_fit_recovers_synthetic_parameters(relu_graph):
    syn = synthetic_profile(relu_graph, 40, mean=0.5, channel_spread=1.0, node_spread=0.5, drift_per_step=0.04,
                            step_noise=0.2, smooth_noise=0.0, reference_steps=40, seed=3)
    f = fit_synthetic(syn.zero_fraction, logit_clip=1e-6)
    assert f["mean"] == pytest.approx(0.5, abs=1e-4)
    assert f["channel_spread"] == pytest.approx(1.0, rel=0.15)
    assert f["drift_per_step"] == pytest.approx(0.04, rel=0.2)
    assert f["step_noise"] == pytest.approx(0.2, rel=0.2)


def test_zero_counts_are_after_quantization(relu_model):
    fp = profile_sparsity(relu_model, steps=2, policy="fp32", samples=8, seed=0)
    q = profile_sparsity(relu_model, steps=2, policy="sqdm", samples=8, seed=0)
    assert q.mean() >= fp.mean()  # values that quantize to zero count as zeros


def test_heatmap_png(profile, tmp_path):
    from plots.sparsity import plot_sparsity_heatmap
    p = plot_sparsity_heatmap(profile, path=tmp_path / "h.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    n = profile.node_ids[2]
    assert plot_sparsity_heatmap(profile, node_id=n, path=tmp_path / "one.png").exists()
    with pytest.raises(ValueError, match="not in the profile"):
        plot_sparsity_heatmap(profile, node_id="nope", path=tmp_path / "x.png")


def test_bad_arguments(relu_model):
    from quant import QuantError
    with pytest.raises(QuantError):
        profile_sparsity(relu_model, steps=2, samples=0)
    with pytest.raises(QuantError):
        profile_sparsity(relu_model, steps=0)


def test_committed_measured_profile_fits_the_graph():
    """docs/tiny-digits-sqdm.profile.npz (used by the README's simulate example) matches today's graph."""
    from pathlib import Path

    from workloads import SparsityProfile, build_workload
    p = SparsityProfile.load(Path(__file__).resolve().parents[2] / "docs" / "tiny-digits-sqdm.profile.npz")
    assert p.kind == "measured" and p.steps == 20 and p.mean() >= 0.5
    p.validate(build_workload("tiny-digits", activation="relu"))
