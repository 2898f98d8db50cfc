"""Subcommands registered with :mod:`des.cli` beyond ``models`` and ``graph`` (one function pair each)."""
