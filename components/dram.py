"""DRAM: access cost of a pattern (pure function, single source of truth) and a SimPy process.

Address mapping (DramConfig): physical address bits, most to least significant,
row : bank : column_hi : channel : column_lo, column_lo spanning `channel_interleave_bytes` (g). So
consecutive addresses fill g bytes of one channel's row, then move to the next channel; a "stripe" of
channels x row_bytes bytes is one row index of one bank in every channel, and consecutive stripes go to
consecutive banks (the row index grows after `banks` stripes). The shipped LPDDR4 configs use g = one
2 KB page (row:bank:channel:column); g = burst_bytes gives the burst-interleaved row:bank:column:channel.

Cost model (`dram_access_cost`, `dram_access_breakdown`), open-page policy per bank:
- An access fetches `runs` contiguous runs of `run_bytes` each (`nbytes` of them are useful), in address
  order. Runs are burst-aligned: a run costs ceil(run_bytes / burst_bytes) bursts. If `stride_bytes`
  (start-to-start distance of consecutive runs) is given and smaller than a burst, runs share bursts and
  the access costs the bursts of its whole span instead (whichever is fewer). bytes_moved = bursts x
  burst_bytes (wasted bytes of partly used bursts move too and cost energy).
- Row misses = row activations = the channel rows the access touches. A sequential run stays in its open
  row, so a run of L bytes starting on a stripe boundary opens channels x floor(L / stripe) + min(channels,
  ceil(rest / g)) rows (`rows_touched`). Runs far apart (`stride_bytes` None) each open their own rows (a
  pattern jump); with a stride, runs that share rows open them once: the access opens at most the rows of
  its whole span (whichever is fewer). Each access starts with no useful row open (the previous transfer
  touched other data), and a monotone sweep never returns to a row it left, so every touched row is
  activated exactly once; a row left for another row of the same bank (a bank conflict) is precharged,
  which the penalty includes.
- Exposure: the first activation (row_miss_penalty_cycles = tRP + tRCD) is paid in full before any data,
  after the row-hit latency. Later activations overlap the data transfer: the controller opens the next
  rows in other banks while the current row streams. Activations spread evenly over the channels; in one
  channel they overlap up to `banks` in flight (one per bank per penalty: penalty / banks apart) and are
  never closer than row_activation_interval_cycles (max(tRRD, tFAW / 4)). So a channel needs
  (ceil(row_misses / channels) - 1) x max(penalty / banks, interval) cycles of activations, and
      cycles = row_hit_latency + penalty + max(bytes_moved / peak_bytes_per_cycle, that activation time).
  A sequential stream is bandwidth bound (about one exposed miss); many short runs far apart (e.g. one
  burst per row) are activation bound.
- Data moves at the total peak bandwidth of all channels: the interface is one pipe (the SimPy `Dram` is one
  FIFO), a stand-in for a controller that keeps every channel busy with the queued transfers. Power-of-two
  strides that alias onto one channel or bank are not modeled (controllers hash these bits).

Address layout of a tensor (`channel_subset_pattern`): channel_last keeps each channel plane (H x W
elements) contiguous, so a subset of channels is a few long runs; interleaved puts the channel innermost,
so a subset costs one short run per pixel, every burst that holds a selected channel being fetched whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generator, NamedTuple

import simpy

from .config import DRAM, DramConfig
from .energy import BYTES_MOVED, ROW_MISSES
from .resource import Calendar
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


class DramTiming(NamedTuple):
    """How the cycles of one access arise (module docstring); `dram_access_cost` reports its totals."""

    bursts: int
    bytes_moved: int
    row_misses: int  # row activations over all channels
    latency_cycles: float  # row-hit latency + the first activation, always exposed
    data_cycles: float  # bytes_moved at the total peak bandwidth
    activation_cycles: float  # a channel's remaining activations at the bank / tFAW-limited rate

    @property
    def cycles(self) -> float:
        """Total cycles: latency + the larger of data and activation time (they overlap)."""
        if self.bursts == 0:
            return 0.0
        return self.latency_cycles + max(self.data_cycles, self.activation_cycles)

    @property
    def overhead_cycles(self) -> float:
        """Cycles beyond the bandwidth bound (data_cycles): latency + activation time not hidden by data."""
        return self.cycles - self.data_cycles if self.bursts else 0.0


def rows_touched(span_bytes: float, cfg: DramConfig) -> int:
    """Channel rows opened by `span_bytes` contiguous bytes starting on a stripe boundary (a stripe is
    channels x row_bytes: one row of one bank in every channel): every channel's row per whole stripe,
    then one row per channel_interleave_bytes chunk of the rest, at most one per channel."""
    if span_bytes <= 0:
        return 0
    stripe_bytes = cfg.channels * cfg.row_bytes
    stripes = math.floor(span_bytes / stripe_bytes)
    rest_bytes = span_bytes - stripes * stripe_bytes
    return int(stripes * cfg.channels + min(cfg.channels, math.ceil(rest_bytes / cfg.channel_interleave_bytes)))


def dram_access_breakdown(
    nbytes: float,
    runs: int,
    run_bytes: float,
    cfg: DramConfig,
    *,
    clock_ghz: float,
    stride_bytes: float | None = None,
) -> DramTiming:
    """Bursts, row misses and the parts of the cycles to fetch `nbytes` useful bytes laid out as `runs`
    runs of `run_bytes` (see the module docstring). `nbytes` must fit in the runs."""
    if nbytes < 0 or runs < 0 or run_bytes < 0:
        raise ValueError(f"negative access: nbytes={nbytes}, runs={runs}, run_bytes={run_bytes}")
    if clock_ghz <= 0:
        raise ValueError(f"clock_ghz must be > 0, got {clock_ghz}")
    if nbytes > runs * run_bytes * (1 + 1e-9) + 1e-9:
        raise ValueError(f"{nbytes} useful bytes do not fit in {runs} runs of {run_bytes} bytes")
    if stride_bytes is not None and stride_bytes < 0:
        raise ValueError(f"stride_bytes must be >= 0, got {stride_bytes}")
    if nbytes == 0 or runs == 0 or run_bytes == 0:
        return DramTiming(0, 0, 0, 0.0, 0.0, 0.0)
    burst = cfg.burst_bytes
    bursts = runs * math.ceil(run_bytes / burst)
    row_misses = runs * rows_touched(run_bytes, cfg)  # each run in its own rows (pattern jumps)
    if stride_bytes is not None:
        span_bytes = (runs - 1) * stride_bytes + run_bytes
        if stride_bytes < burst:
            bursts = min(bursts, math.ceil(span_bytes / burst))
        row_misses = min(row_misses, rows_touched(span_bytes, cfg))  # close runs share rows
    bytes_moved = bursts * burst
    misses_per_channel = math.ceil(row_misses / cfg.channels)
    activation_spacing_cycles = max(cfg.row_miss_penalty_cycles / cfg.banks, cfg.row_activation_interval_cycles)
    return DramTiming(
        bursts=int(bursts),
        bytes_moved=int(bytes_moved),
        row_misses=int(row_misses),
        latency_cycles=float(cfg.row_hit_latency_cycles + cfg.row_miss_penalty_cycles),
        data_cycles=bytes_moved / cfg.bytes_per_cycle(clock_ghz),
        activation_cycles=float((misses_per_channel - 1) * activation_spacing_cycles),
    )


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
    t = dram_access_breakdown(nbytes, runs, run_bytes, cfg, clock_ghz=clock_ghz, stride_bytes=stride_bytes)
    return DramCost(float(t.cycles), t.bursts, t.row_misses, t.bytes_moved)


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
    interface for its occupancy, `dram_access_cost` cycles less the row-hit latency (the first row
    activation + the larger of data and remaining activation time); the fixed row-hit latency is
    pipelined (not held). Records intervals and counters (row_misses = row activations) under `name`."""

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
        self.calendar = Calendar(1)

    def cost(self, nbytes: float, pattern: AccessPattern | None = None) -> DramCost:
        """Cost of fetching `nbytes` with `pattern` (default: one contiguous run)."""
        p = pattern if pattern is not None else AccessPattern.contiguous(nbytes)
        return dram_access_cost(nbytes, p.runs, p.run_bytes, self.cfg, clock_ghz=self.clock_ghz, stride_bytes=p.stride_bytes)

    def transfer(
        self, nbytes: float, pattern: AccessPattern | None = None, kind: str = "read", tag: str = ""
    ) -> Generator[simpy.events.Event, object, DramCost]:
        """SimPy process body: move `nbytes` (read or write) with `pattern`; returns its DramCost.
        Requests are served in arrival order (a FIFO calendar).
        Invalid arguments raise here, at call time, not inside the simulation."""
        cost = self.cost(nbytes, pattern)
        return self._transfer(nbytes, cost, kind, tag)

    def _transfer(self, nbytes: float, cost: DramCost, kind: str, tag: str) -> Generator[simpy.events.Event, object, DramCost]:
        if cost.bursts == 0:
            return cost
        occupancy = cost.cycles - self.cfg.row_hit_latency_cycles
        start = self.calendar.book(self.env.now, occupancy)
        done = start + occupancy + self.cfg.row_hit_latency_cycles  # the latency is pipelined, not held
        if done > self.env.now:
            yield self.env.timeout(done - self.env.now)
        self.stats.record(self.name, kind, start, start + occupancy, tag)
        self.count(nbytes, cost, kind)
        return cost

    def count(self, nbytes: float, cost: DramCost, kind: str, stats: ActivityRecorder | None = None) -> None:
        """Count one transfer of `nbytes` useful bytes that cost `cost` (bytes moved, bursts, activations),
        in `stats` (default: this interface's recorder)."""
        (stats if stats is not None else self.stats).add_many(
            self.name,
            {
                BYTES_MOVED: cost.bytes_moved,
                "useful_bytes": nbytes,
                f"useful_bytes_{kind}": nbytes,
                "bursts": cost.bursts,
                ROW_MISSES: cost.row_misses,
                "transfers": 1,
            },
        )
