"""The machine-speed reference of every benchmark: this shared machine's speed varies several-fold with its
neighbours, so each benchmark times a plain Python loop beside what it measures and compares by ratio."""
from __future__ import annotations

import time


def python_loop_seconds(n: int = 10**7) -> float:
    """Wall time of ``for i in range(n): x += i`` (the machine-speed reference)."""
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return time.perf_counter() - t0
