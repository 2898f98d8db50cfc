"""Errors raised by the workloads package.

Every error is a ``WorkloadError`` (a ``ValueError``) whose message is one line naming the model, file,
op or field at fault, so the CLI can print it as is and exit non-zero.
"""


class WorkloadError(ValueError):
    """Bad input to the workloads package (unknown model, bad resolution, bad file, ...)."""


class UnsupportedOpError(WorkloadError):
    """The extractor met a tensor operation it has no cost model for."""


class WorkloadFileError(WorkloadError):
    """A workload graph or sparsity-profile file is unreadable, malformed or of the wrong version."""


class ProfileMismatchError(WorkloadError):
    """A sparsity profile does not fit the graph it is attached to."""
