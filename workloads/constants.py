"""Constants of workload graphs, in a module that imports nothing (no torch): the file reader, the schema,
the graph cache and the simulator use them without loading the extractor. ``workloads.extract`` re-exports
both names, so ``from workloads.extract import MAC_KINDS`` works as before."""

__all__ = ["GRAPH_FORMAT_VERSION", "MAC_KINDS"]

GRAPH_FORMAT_VERSION = 1
MAC_KINDS = ("conv", "linear", "matmul")
