"""Limits on the files a user gives sqdm, with the reason for each number.

Each limit is checked before the file is parsed (sizes before reading, nesting depth and YAML node
count before building Python objects), so a hostile file costs at most one bounded read.
"""
from __future__ import annotations

MiB = 1 << 20

MAX_YAML_FILE_BYTES = 1 * MiB
"""Hardware configs and precision policies. The largest shipped one is ~5 KB; a policy that names every
MAC node of the largest zoo model (SD 1.5, ~500 MAC nodes) is ~60 KB."""

MAX_WORKLOAD_FILE_BYTES = 64 * MiB
"""Workload graphs (JSON). The largest zoo graph (SD 1.5, 837 nodes) is 0.7 MB; 64 MiB leaves ~90x room."""

MAX_PROFILE_FILE_BYTES = 512 * MiB
"""Sparsity profiles (.npz) on disk: a quarter of the decompressed limit (float32 zero fractions compress
little). The committed measured profile of tiny-digits is 72 KB."""

MAX_PROFILE_ARRAY_BYTES = 2048 * MiB
"""Sparsity profiles once decompressed (sum of the arrays' sizes, read from the zip directory before any
array is decompressed, so a zip bomb is refused). A measured profile of SD 1.5 over 1,000 steps would be
~0.3 GB."""

MAX_WEIGHTS_FILE_BYTES = 64 * MiB
"""Trained tiny-digits weights (torch files). The committed ones are 0.17-1.5 MB each."""

MAX_NESTING_DEPTH = 64
"""JSON / YAML nesting. Workload files nest 6 levels, hardware configs 3, policies 3; Python's parsers
recurse per level, so a 100,000-level document would otherwise end in a RecursionError."""

MAX_YAML_NODES = 200_000
"""YAML scalars + collections in one document (a policy of ~40,000 rules). YAML aliases are refused
outright: an alias re-uses a subtree, so a few hundred bytes can stand for billions of nodes."""

MAX_NAME_CHARS = 256
"""Node ids, op / block / model names. The longest zoo node id is 69 characters."""

MAX_WORKLOAD_NODES = 100_000
"""Nodes of one workload graph (SD 1.5 has 837); edges may number at most 16 per node."""

MAX_PROFILE_STEPS = 100_000
"""Sampling steps a sparsity profile may describe (the same bound as ``des.limits.MAX_STEPS``)."""

MAX_CHANNELS = 1 << 20
"""Channels of one tensor (the widest zoo layer has 10,240 inputs)."""

MAX_POLICY_RULES = 10_000
"""Rules of one precision policy (a rule per MAC node of SD 1.5 is ~500)."""
