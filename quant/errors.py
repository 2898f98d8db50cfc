"""Errors of the quant package.

A :class:`QuantError` is a ``ValueError`` with a one-line message naming what is at fault (policy file,
rule, format, weights file, ...), so the ``sqdm`` CLI prints it and exits with status 2.
"""


class QuantError(ValueError):
    """Bad input to the quantization pipeline (unknown policy file, bad rule, missing weights, ...)."""


class PolicyError(QuantError):
    """A precision policy file or rule is unreadable or invalid."""
