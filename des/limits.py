"""Bounds on every number a user gives sqdm, with the reason for each, checked before anything is allocated.

Two layers:

1. **Static bounds** on each command-line number (argparse ``type=`` functions below): a value outside is
   refused while the arguments are parsed, so ``--steps 1000000000000`` costs nothing.
2. **The run's memory**, estimated from the workload graph and the machine before the simulation (and
   before the synthetic profile) allocates anything (:func:`check_run_size`). A run may use at most
   :data:`RUN_MEMORY_BUDGET_BYTES` (half the physical memory) for what grows with its size:

   * per (node, step): :data:`BYTES_PER_NODE_STEP` (the engine's four float64 ``[nodes, steps]`` arrays,
     32 B; the report's copies as Python float lists, 4 x 32 B; their JSON text, ~4 x 25 B; margin);
   * per (sparse-eligible input channel, step) of a synthetic profile: :data:`BYTES_PER_CHANNEL_STEP`
     (float64 logits, float64 sigmoid, float32 result and numpy temporaries);
   * per tile of the largest node, whose SimPy processes are all alive at once: :data:`BYTES_PER_TILE`
     (generator frames, events, the TileWork and its transfers). The tile count used is a lower bound
     (every operand at 4 bits, the whole global buffer as working space), so a refusal is certain to be
     right; a run that passes may still take long, never without bound.

File sizes and nesting depth of input files are in :mod:`components.fileio.limits` (re-exported here).
"""
from __future__ import annotations

import argparse
import math
import os
from typing import Callable

from components.fileio.limits import (MAX_NESTING_DEPTH, MAX_PROFILE_ARRAY_BYTES, MAX_PROFILE_FILE_BYTES,  # noqa: F401
                           MAX_WEIGHTS_FILE_BYTES, MAX_WORKLOAD_FILE_BYTES, MAX_YAML_FILE_BYTES, MAX_YAML_NODES)

GiB = 1 << 30



def _half_physical_memory() -> int:
    try:
        return max(GiB, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2)
    except (ValueError, OSError, AttributeError):  # not a POSIX system: a laptop's worth
        return 4 * GiB


RUN_MEMORY_BUDGET_BYTES = _half_physical_memory()
"""What one simulation may allocate for its size-dependent state: half of this machine's physical memory
(11.5 GiB on the 23 GiB CI machine), leaving the rest to the libraries (~0.5 GB) and everything else. A run
estimated above it could only end in swapping or the OOM killer."""
BYTES_PER_NODE_STEP = 320
BYTES_PER_CHANNEL_STEP = 48
BYTES_PER_TILE = 4096

# -- sqdm simulate --------------------------------------------------------------------------------
MAX_STEPS = 100_000
"""Sampling steps of one run. 1,000 is already beyond any sampler in use (DDPM's 1,000 noise levels);
the memory check above refuses fewer for large graphs (SD 1.5 on the sqdm machine: ~3,000 steps with an
11.5 GiB budget, the synthetic profile being the largest part)."""
MAX_BATCH = 4096
"""Images per network evaluation (before classifier-free guidance doubles it). Element counts grow with
it; 4096 keeps every count of the largest zoo model below 2**53 (exact in float64)."""
MAX_RESOLUTION = 4096
"""Input side in pixels (latent pixels for SD 1.5). 64x the largest default (64); each model also checks
its own multiple (``sqdm models``)."""
MAX_SEED = 2**32 - 1
"""Seeds are 0 .. 2**32-1: the range every generator used here (numpy, torch) takes without error."""

# -- sqdm profile / quality / sensitivity (the tiny-digits pipeline) --------------------------------
MAX_SAMPLER_STEPS = 1000
"""DDIM steps: the diffusion process has T = 1000 noise levels; more steps would repeat levels."""
MAX_SAMPLES = 65_536
"""Sampled images per run (8x8 each; the sampler works in batches of 256, so memory is ~64 floats per
sample for the images and features: 65,536 samples is ~50 MB, about 10 minutes per pass here)."""
MAX_SEEDS = 100
"""Noise seeds of the quality table (each one re-samples every row)."""
MAX_TRAJECTORIES = 4096
"""Calibration trajectories of the sensitivity sweep."""
MAX_TRAJECTORY_INPUTS = 1 << 20
"""trajectories x steps of the sensitivity sweep: every (x_t, t) input and its two outputs are kept, ~1 KiB
each, so 2**20 inputs are ~1 GiB."""
MAX_TILE_CHANNELS = 4096
"""Channels per tile of the measured profile's tile fractions (the widest tiny-digits layer has 192)."""
MAX_TRAIN_STEPS = 1_000_000
"""Training steps of ``sqdm train-digits`` (memory does not grow with them; the default is 400)."""
MAX_TRAIN_BATCH = 65_536
"""Images per training step (8x8 each, a few KB of activations per image)."""


def int_in(lo: int, hi: int, why: str = "") -> Callable[[str], int]:
    """An argparse ``type=`` that accepts a decimal integer within ``[lo, hi]``."""
    def parse(text: str) -> int:
        try:
            v = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is outside {lo:,}..{hi:,}" + (f" ({why})" if why else ""))
        return v
    parse.__name__ = "integer"
    return parse


def float_in(lo: float, hi: float, why: str = "") -> Callable[[str], float]:
    """An argparse ``type=`` that accepts a finite number within ``[lo, hi]``."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(v) or not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{text} is outside {lo:g}..{hi:g}" + (f" ({why})" if why else ""))
        return v
    parse.__name__ = "number"
    return parse


steps_arg = int_in(1, MAX_STEPS, "des/limits.py MAX_STEPS")
batch_arg = int_in(1, MAX_BATCH, "des/limits.py MAX_BATCH")
resolution_arg = int_in(1, MAX_RESOLUTION, "des/limits.py MAX_RESOLUTION")
seed_arg = int_in(0, MAX_SEED, "seeds are 0..2**32-1")
fraction_arg = float_in(0.0, 1.0, "a zero fraction")
sampler_steps_arg = int_in(1, MAX_SAMPLER_STEPS, "DDIM over T=1000 noise levels")
samples_arg = int_in(1, MAX_SAMPLES, "des/limits.py MAX_SAMPLES")
seeds_arg = int_in(1, MAX_SEEDS, "des/limits.py MAX_SEEDS")
trajectories_arg = int_in(1, MAX_TRAJECTORIES, "des/limits.py MAX_TRAJECTORIES")
tile_channels_arg = int_in(1, MAX_TILE_CHANNELS, "des/limits.py MAX_TILE_CHANNELS")
MAX_JOBS = 256
"""Worker processes of a command that runs many simulations (each holds a graph and a machine)."""
jobs_arg = int_in(1, MAX_JOBS, "des/limits.py MAX_JOBS")


class RunTooLargeError(ValueError):
    """A run whose estimated memory exceeds :data:`RUN_MEMORY_BUDGET_BYTES`."""


def _gib(n: float) -> str:
    return f"{n / GiB:,.1f} GiB"


def estimate_run_bytes(g, hw, steps: int) -> dict[str, float]:
    """Lower-bound estimate of the size-dependent memory of simulating ``g`` on ``hw`` for ``steps`` steps,
    by part (see the module docstring)."""
    nodes = g.number_of_nodes()
    channels = sum(int(d.get("in_channels", 0)) for _, d in g.nodes(data=True) if d.get("sparse_eligible"))
    depth = 2 if hw.global_buffer.double_buffered else 1
    cap = float(hw.global_buffer.capacity_bytes)
    tiles = max((math.ceil(depth * 0.5 * (float(d.get("input_elements", 0)) + float(d.get("output_elements", 0)))
                           / cap) for _, d in g.nodes(data=True)), default=0)
    return {"per node and step": float(nodes) * steps * BYTES_PER_NODE_STEP,
            "synthetic profile": (float(channels) * steps * BYTES_PER_CHANNEL_STEP
                                  if hw.sparse_cluster is not None else 0.0),
            "tiles of the largest node": float(tiles) * BYTES_PER_TILE}


def check_run_size(g, hw, steps: int) -> None:
    """Raise :class:`RunTooLargeError` (one line) if the run cannot fit :data:`RUN_MEMORY_BUDGET_BYTES`."""
    parts = estimate_run_bytes(g, hw, steps)
    total = sum(parts.values())
    if total > RUN_MEMORY_BUDGET_BYTES:
        worst = max(parts, key=parts.get)
        hint = {"per node and step": "use fewer --steps",
                "synthetic profile": "use fewer --steps",
                "tiles of the largest node": "use a smaller --batch or --resolution"}[worst]
        raise RunTooLargeError(
            f"run too large: '{g.graph.get('model', '')}' ({g.number_of_nodes()} nodes) x {steps:,} steps needs at "
            f"least {_gib(total)} ({worst}: {_gib(parts[worst])}), over the {_gib(RUN_MEMORY_BUDGET_BYTES)} "
            f"budget of des/limits.py; {hint}")
