"""DRAM: access cost of a pattern (pure function, single source of truth) and a SimPy process.

Cost model (`dram_access_cost`):
- An access fetches `runs` contiguous runs of `run_bytes` each (`nbytes` of them are useful). Runs are
  burst-aligned: a run costs ceil(run_bytes / burst_bytes) bursts. If `stride_bytes` (start-to-start
  distance of consecutive runs) is given and smaller than a burst, runs share bursts and the access
  costs the bursts of its whole span instead (whichever is fewer).
- Row activations (misses): with runs far apart (`stride_bytes` None or >= row_bytes) every run opens
  ceil(run_bytes / row_bytes) rows; with closer runs the span's rows are each opened once.
- The transfer is striped over all channels (channel bits below the row bits), so it sees the total
  bandwidth; row misses in different channels overlap, so the serialized miss time is
  row_misses x row_miss_penalty_cycles / channels. One row-hit latency is paid once per access.
- cycles = row_hit_latency + bytes_moved / bytes_per_cycle + row_misses x penalty / channels, with
  bytes_moved = bursts x burst_bytes (wasted bytes of partly used bursts move too and cost energy).

Address mapping (`channel_subset_pattern`): channel_last keeps each channel plane (H x W elements)
contiguous, so a subset of channels is a few long runs; interleaved puts the channel innermost, so a
subset costs one short run per pixel, every burst that holds a selected channel being fetched whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generator, NamedTuple

import simpy

from .config import DRAM, DramConfig
from .energy import BYTES_MOVED
from .stats import ActivityRecorder


class DramCost(NamedTuple):
    """Cost of one DRAM access (a tuple: cycles, bursts, row_misses, bytes_moved)."""

    cycles: float
    bursts: int
    row_misses: int
    bytes_moved: int


@dataclass(frozen=True)
class AccessPattern:
    """`runs` contiguous runs of `run_bytes` (start-to-start `stride_bytes` apart, None = far apart)."""

    runs: int
    run_bytes: float
    stride_bytes: float | None = None

    @property
    def span_bytes(self) -> float:
        """Bytes fetched if every run were fetched whole (runs x run_bytes)."""
        return self.runs * self.run_bytes

    @classmethod
    def contiguous(cls, nbytes: float) -> "AccessPattern":
        """One run of `nbytes`."""
        return cls(runs=1, run_bytes=nbytes)


def dram_access_cost(
    nbytes: float,
    runs: int,
    run_bytes: float,
    cfg: DramConfig,
    *,
    clock_ghz: float,
    stride_bytes: float | None = None,
) -> DramCost:
    """Cycles, bursts, row misses and bytes moved to fetch `nbytes` useful bytes laid out as `runs`
    runs of `run_bytes` (see the module docstring). `nbytes` must fit in the runs."""
    if nbytes < 0 or runs < 0 or run_bytes < 0:
        raise ValueError(f"negative access: nbytes={nbytes}, runs={runs}, run_bytes={run_bytes}")
    if clock_ghz <= 0:
        raise ValueError(f"clock_ghz must be > 0, got {clock_ghz}")
    if nbytes > runs * run_bytes * (1 + 1e-9) + 1e-9:
        raise ValueError(f"{nbytes} useful bytes do not fit in {runs} runs of {run_bytes} bytes")
    if nbytes == 0 or runs == 0 or run_bytes == 0:
        return DramCost(0.0, 0, 0, 0)
    burst, row = cfg.burst_bytes, cfg.row_bytes
    bursts = runs * math.ceil(run_bytes / burst)
    row_misses = runs * math.ceil(run_bytes / row)
    if stride_bytes is not None:
        if stride_bytes < 0:
            raise ValueError(f"stride_bytes must be >= 0, got {stride_bytes}")
        span = (runs - 1) * stride_bytes + run_bytes
        if stride_bytes < burst:
            bursts = min(bursts, math.ceil(span / burst))
        if stride_bytes < row:
            row_misses = min(row_misses, math.ceil(span / row))
    bytes_moved = bursts * burst
    cycles = (
        cfg.row_hit_latency_cycles
        + bytes_moved / cfg.bytes_per_cycle(clock_ghz)
        + row_misses * cfg.row_miss_penalty_cycles / cfg.channels
    )
    return DramCost(float(cycles), int(bursts), int(row_misses), int(bytes_moved))


def channel_subset_pattern(
    height: int,
    width: int,
    channels_total: int,
    channels_selected: int,
    bytes_per_element: float,
    mapping: str,
    burst_bytes: int,
) -> tuple[float, AccessPattern]:
    """(useful bytes, pattern) to fetch `channels_selected` of `channels_total` channels of an H x W
    feature map under an address mapping ("channel_last" or "interleaved").

    channel_last: one run per selected channel plane (H*W*bpe bytes), the selected planes spread
    evenly over the tensor (stride = plane x C / selected: small planes share DRAM rows), or one run
    when all channels are selected.
    interleaved: one run per pixel, stride = one pixel (C*bpe bytes); in each pixel the selected
    channels are assumed scattered, touching min(selected, bursts per pixel) bursts, fetched whole.
    """
    for name, v in (("height", height), ("width", width), ("channels_total", channels_total)):
        if v <= 0:
            raise ValueError(f"{name} must be > 0, got {v}")
    if not 0 <= channels_selected <= channels_total:
        raise ValueError(f"channels_selected must be in [0, {channels_total}], got {channels_selected}")
    pixels = height * width
    useful = pixels * channels_selected * bytes_per_element
    plane = pixels * bytes_per_element
    pixel_bytes = channels_total * bytes_per_element
    if channels_selected == 0:
        return 0.0, AccessPattern(0, 0.0)
    if mapping == "channel_last":
        if channels_selected == channels_total:
            return useful, AccessPattern.contiguous(plane * channels_total)
        stride = plane * channels_total / channels_selected  # selected planes spread evenly
        return useful, AccessPattern(runs=channels_selected, run_bytes=plane, stride_bytes=stride)
    if mapping == "interleaved":
        if channels_selected == channels_total:
            return useful, AccessPattern.contiguous(pixel_bytes * pixels)
        bursts_per_pixel = max(math.ceil(pixel_bytes / burst_bytes), 1)
        touched = min(channels_selected, bursts_per_pixel)
        run = min(touched * burst_bytes, pixel_bytes)  # >= the selected bytes of the pixel
        return useful, AccessPattern(runs=pixels, run_bytes=run, stride_bytes=pixel_bytes)
    raise ValueError(f"unknown address mapping {mapping!r} (channel_last | interleaved)")


class Dram:
    """The DRAM interface as a SimPy resource: transfers queue FIFO and each holds the (striped)
    interface for its occupancy (bursts at peak bandwidth + row-miss time); the fixed row-hit latency
    is pipelined (not held). Records intervals and counters under `name`."""

    def __init__(
        self,
        env: simpy.Environment,
        cfg: DramConfig,
        clock_ghz: float,
        stats: ActivityRecorder | None = None,
        name: str = DRAM,
    ):
        self.env = env
        self.cfg = cfg
        self.clock_ghz = clock_ghz
        self.stats = stats if stats is not None else ActivityRecorder()
        self.name = name
        self._port = simpy.Resource(env, capacity=1)

    def cost(self, nbytes: float, pattern: AccessPattern | None = None) -> DramCost:
        """Cost of fetching `nbytes` with `pattern` (default: one contiguous run)."""
        p = pattern if pattern is not None else AccessPattern.contiguous(nbytes)
        return dram_access_cost(nbytes, p.runs, p.run_bytes, self.cfg, clock_ghz=self.clock_ghz, stride_bytes=p.stride_bytes)

    def transfer(
        self, nbytes: float, pattern: AccessPattern | None = None, kind: str = "read", tag: str = ""
    ) -> Generator[simpy.events.Event, object, DramCost]:
        """SimPy process body: move `nbytes` (read or write) with `pattern`; returns its DramCost.
        Invalid arguments raise here, at call time, not inside the simulation."""
        cost = self.cost(nbytes, pattern)
        return self._transfer(nbytes, cost, kind, tag)

    def _transfer(self, nbytes: float, cost: DramCost, kind: str, tag: str) -> Generator[simpy.events.Event, object, DramCost]:
        if cost.bursts == 0:
            return cost
        occupancy = cost.cycles - self.cfg.row_hit_latency_cycles
        with self._port.request() as req:
            yield req
            start = self.env.now
            yield self.env.timeout(occupancy)
            self.stats.record(self.name, kind, start, self.env.now, tag)
        if self.cfg.row_hit_latency_cycles > 0:
            yield self.env.timeout(self.cfg.row_hit_latency_cycles)
        self.stats.add_many(
            self.name,
            {
                BYTES_MOVED: cost.bytes_moved,
                "useful_bytes": nbytes,
                f"useful_bytes_{kind}": nbytes,
                "bursts": cost.bursts,
                "row_misses": cost.row_misses,
                "transfers": 1,
            },
        )
        return cost
