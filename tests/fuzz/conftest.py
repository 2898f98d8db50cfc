"""Fuzz suite: prints the outcome counts of the session's generated inputs (see fuzzlib.py)."""
from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    import sys
    mod = sys.modules.get("fuzzlib")
    counts = getattr(mod, "COUNTS", None)
    if counts:
        total = sum(counts.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        terminalreporter.write_line(f"fuzz: {total} inputs tried: {parts}")
