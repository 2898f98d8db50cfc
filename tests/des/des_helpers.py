"""Shared helpers of the simulator tests: small policies, cached workload graphs and profiles.

A module with its own name (not ``conftest``): test folders each have a conftest, and pytest puts them all
on sys.path, so ``from conftest import ...`` would depend on which folder was collected first."""
import functools

from components import load_shipped_config
from quant.policy import apply_policy
from workloads import build_workload, synthetic_profile

# Self-contained precision policies (runnable on every shipped machine of their family).
POLICIES = {
    "sqdm": {"name": "t-sqdm", "rules": [
        {"kind": "matmul", "weight": "mxint8", "act": "mxint8"},
        {"match": "conv_in", "weight": "mxint8", "act": "mxint8"},
        {"match": "*", "sparse_eligible": True, "weight": "int4_e4m3_v16", "act": "uint4_e4m3_v16"},
        {"match": "*", "weight": "int4_e4m3_v16", "act": "int4_e4m3_v16"}]},
    "int4": {"name": "t-int4", "rules": [
        {"kind": "matmul", "weight": "mxint8", "act": "mxint8"},
        {"match": "*", "weight": "int4_pc", "act": "int4"}]},
    "fp16": {"name": "t-fp16", "rules": [{"match": "*", "weight": "fp16", "act": "fp16"}]},
}
HW_POLICY = {"sqdm": "sqdm", "int4-dense": "int4", "int4vsq-dense": "int4", "fp16-dense": "fp16"}


@functools.lru_cache(maxsize=None)
def graph(model: str, policy: str, activation: str = "relu"):
    return apply_policy(build_workload(model, activation=activation), POLICIES[policy])


RUN_DRIFT_LOGIT = 2.0  # std of each channel's drift from the first to the last step of a test run


@functools.lru_cache(maxsize=None)
def profile(model: str, steps: int, mean: float = 0.65, seed: int = 0):
    """A synthetic profile whose channels drift by N(0, RUN_DRIFT_LOGIT) logits over the run, with the mean
    hit over the run (the generator's drift is per step, so the run's drift is spread over steps - 1)."""
    return synthetic_profile(graph(model, "sqdm"), steps, mean=mean, seed=seed,
                             drift_per_step=RUN_DRIFT_LOGIT / max(steps - 1, 1), reference_steps=steps)
