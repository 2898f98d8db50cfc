"""Errors of :mod:`components.fileio`: each is a ``ValueError`` with a one-line message naming the file and the fault."""
from __future__ import annotations


class InputFileError(ValueError):
    """A file given as input is missing, not a regular file, too large, not UTF-8 text, malformed or too
    deeply nested."""


class OutputPathError(ValueError):
    """An output path cannot be written as asked (a folder, a FIFO or device, a symbolic link, a bad suffix,
    an unwritable folder), or writing it failed."""
