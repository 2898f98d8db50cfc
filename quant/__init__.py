"""Quantization pipeline: number formats, precision policies, fake-quantized models, the trained
tiny-digits diffusion models, per-step sparsity profiling and offline quality metrics.

Typical use::

    from quant import load_digits_unet, quantize_model, profile_sparsity, apply_policy
    model = load_digits_unet("relu")                    # committed weights
    prof = profile_sparsity(model, steps=20, policy="sqdm")   # workloads.SparsityProfile (measured)
    g = apply_policy(build_workload("tiny-digits", activation="relu"), "sqdm")
    g = prof.attach(g)
"""
from .diffusion import DDIMSampler, cosine_alpha_bar, load_digits_images
from .errors import PolicyError, QuantError
from .metrics import classifier_features, fid, kid, psnr, real_fid_floor
from .models import DigitsClassifier, ShiftedReLU, load_classifier, load_digits_unet, set_relu_shift
from .policy import POLICY_DIR, Policy, apply_policy, builtin_policies, load_policy, mac_share_by_bits
from .qmodel import QuantizedModel, mac_graph, quantize_model
from .quality import ROWS, TRADEOFF_ROWS, format_table, quality_table
from .sensitivity import sensitivity_sweep
from .sparsity import calibration_noise, fit_synthetic, profile_sparsity

__all__ = [
    "DDIMSampler", "cosine_alpha_bar", "load_digits_images", "PolicyError", "QuantError", "classifier_features",
    "fid", "kid", "psnr", "real_fid_floor", "DigitsClassifier", "ShiftedReLU", "load_classifier",
    "load_digits_unet", "set_relu_shift", "POLICY_DIR", "Policy", "apply_policy", "builtin_policies",
    "load_policy", "mac_share_by_bits", "QuantizedModel", "mac_graph", "quantize_model", "ROWS", "TRADEOFF_ROWS", "format_table",
    "quality_table", "sensitivity_sweep", "calibration_noise", "fit_synthetic", "profile_sparsity",
]
