"""Offline quality metrics: FID floor, KID, PSNR, and a tiny quality table."""
import math

import numpy as np
import pytest
import torch

from quant import classifier_features, fid, kid, load_classifier, load_digits_images, psnr, real_fid_floor


def test_classifier_accuracy_recorded():
    clf = load_classifier()
    assert clf.meta["test_accuracy"] >= 0.95
    from quant.diffusion import load_digits_labels
    x, y = load_digits_images("test"), load_digits_labels("test")
    with torch.no_grad():
        assert float((clf(x).argmax(1) == y).float().mean()) == pytest.approx(clf.meta["test_accuracy"], abs=1e-6)


def test_real_vs_real_fid_small_and_noise_large():
    floor = real_fid_floor()
    assert 0 <= floor < 25
    real = classifier_features(load_digits_images("all"))
    noise = classifier_features(torch.rand(500, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert fid(noise, real) > 10 * floor


def test_fid_identical_is_zero_and_kid():
    f = classifier_features(load_digits_images("a"))
    assert fid(f, f) == pytest.approx(0.0, abs=1e-3)
    g = classifier_features(load_digits_images("b"))
    noise = classifier_features(torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    assert abs(kid(f, g, subsets=5, subset_size=200)) < 0.02 * kid(noise, g, subsets=5, subset_size=200)


def test_psnr():
    a = torch.zeros(2, 1, 8, 8)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 0.02) == pytest.approx(10 * math.log10(4 / 0.0004))


def test_quality_table_small():
    from quant import format_table, quality_table
    df = quality_table(samples=12, seeds=2, steps=2, rows=[("FP32 ReLU", "relu", "fp32"),
                                                           ("SQ-DM", "relu", "sqdm"), ("plain INT4", "relu", "int4")],
                       progress=False, calibration_trajectories=4)
    assert list(df.config) == ["FP32 ReLU", "SQ-DM", "plain INT4"]
    for c in ("fid_mean", "fid_std", "fid_vs_fp_mean", "kid_mean", "zero_fraction", "mac_share_8bit", "real_fid_floor"):
        assert np.all(np.isfinite(df[c].to_numpy(dtype=float))), c
    assert df.psnr_vs_fp_mean[0] == math.inf and np.isfinite(df.psnr_vs_fp_mean[1])
    assert df.zero_fraction[1] > 0.3
    assert "FID" in format_table(df)
