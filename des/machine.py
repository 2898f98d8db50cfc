"""The discrete-event machine: SimPy processes for DRAM, the global buffer, both PE clusters, the vector
unit and the sparsity detector, executing one node's tiles with contention and overlap.

Each tile is a process: it allocates its footprint in the global buffer (blocking while the buffer is
full: back-pressure; a band's first tile also allocates the input band, which its last tile frees), issues its DRAM loads (dense-channel input, compressed sparse-channel input,
weights; they queue on the one DRAM interface), computes on the dense and sparse clusters at once, lets
the vector unit merge partial sums, writes its result back to DRAM when the residency rule says so, then
frees its buffer space. All tiles of a node are started together; the buffer (allocations are served in
FIFO order) and the FIFO resources keep them in order and overlap tile i+1's loads with tile i's
compute. Nodes run one after the other: a node starts when the previous one has drained.
"""
from __future__ import annotations

import simpy

from components import (GLOBAL_BUFFER, ActivityRecorder, Buffer, DensePECluster, Dram, HardwareConfig,
                        SparsePECluster, SparsityDetector, VectorUnit)
from components.energy import READ_BYTES, WRITE_BYTES

from .work import TileWork

__all__ = ["Machine"]


class Machine:
    """One accelerator instance in one SimPy environment; ``stats`` may be swapped between nodes."""

    def __init__(self, hw: HardwareConfig, working_bytes: float, calibration: dict | None = None) -> None:
        self.hw = hw
        self.env = simpy.Environment()
        self.stats = ActivityRecorder()
        gb_cfg = hw.global_buffer.model_copy(update={"capacity_bytes": max(int(working_bytes), 1)})
        self.dram = Dram(self.env, hw.dram, hw.clock_ghz, self.stats)
        self.gb = Buffer(self.env, gb_cfg, self.stats)
        self.dense = DensePECluster(self.env, hw.dense_cluster, self.stats) if hw.dense_cluster else None
        self.sparse = SparsePECluster(self.env, hw.sparse_cluster, self.stats) if hw.sparse_cluster else None
        self.vector = VectorUnit(self.env, hw.vector_unit, self.stats)
        self.detector = SparsityDetector(self.env, hw.detector, self.stats, calibration=calibration) \
            if hw.detector else None
        self._parts = [p for p in (self.dram, self.gb, self.dense, self.sparse, self.vector, self.detector) if p]

    def use_stats(self, stats: ActivityRecorder) -> None:
        """Send every component's records to ``stats`` from now on."""
        self.stats = stats
        for p in self._parts:
            p.stats = stats

    # -- processes ------------------------------------------------------------------------------------
    def run_tiles(self, tiles: list[TileWork], tag: str):
        """Process body: execute ``tiles`` (one node) and return when the last one has written back."""
        if not tiles:
            return
        procs = [self.env.process(self._tile(tw, tag)) for tw in tiles]
        yield self.env.all_of(procs)

    def _tile(self, tw: TileWork, tag: str):
        env = self.env
        yield self.gb.allocate(tw.footprint_bytes + tw.band_alloc_bytes)
        try:
            if tw.loads:
                yield env.all_of([env.process(self.dram.transfer(x.nbytes, x.pattern, "read", tag)) for x in tw.loads])
            jobs = []
            if tw.dense is not None:
                j = tw.dense
                jobs.append(env.process(self.dense.compute(j.macs, j.fmt, j.utilization, tag,
                                                           distributed_elems=j.distributed_elems,
                                                           reduced_elems=j.reduced_elems)))
            if tw.sparse is not None:
                j = tw.sparse
                jobs.append(env.process(self.sparse.compute(j.dense_macs, j.density, j.fmt, tag,
                                                            bitmap_elems=j.bitmap_elems,
                                                            distributed_elems=j.distributed_elems)))
            if tw.vector_elems:
                jobs.append(env.process(self.vector.compute(tw.vector_elems, tw.vector_kind, tag)))
            if jobs:
                yield env.all_of(jobs)
            if tw.merge_elems:
                yield env.process(self.vector.compute(tw.merge_elems, "add", tag))
            for x in tw.writes:
                yield env.process(self.dram.transfer(x.nbytes, x.pattern, "write", tag))
        finally:
            self.gb.release(tw.footprint_bytes + tw.band_release_bytes)
        self.stats.add(GLOBAL_BUFFER, READ_BYTES, tw.gb_read_bytes)
        self.stats.add(GLOBAL_BUFFER, WRITE_BYTES, tw.gb_write_bytes)


