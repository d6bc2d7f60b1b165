"""Timing shared by the benchmarks (each is run as a script, so this is imported by name)."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def timed(fn: Callable[[], Any], runs: int, warm_up: bool = True) -> tuple[float, float, Any]:
    """One warm-up call (unless ``warm_up`` is false), then ``runs`` timed ones: (median seconds,
    worst seconds, last result)."""
    result = fn() if warm_up else None
    seconds = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), max(seconds), result
