"""Shared benchmark machinery: interleaved timing, machine description, tables.

Contenders are timed in interleaved rounds (A B C A B C ...) inside one process, so
slow drifts of the machine (frequency, other load) hit every contender alike, and
ratios are taken between medians measured side by side.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np


def machine() -> str:
    """One line naming the CPU, core count and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}")  # fmt: skip


def time_interleaved(
    contenders: dict[str, Callable[[], object]], rounds: int = 30, reps: int = 5, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call of each contender, timed in interleaved rounds.

    Each round calls every contender ``reps`` times in a row and records the mean;
    the result is the median over ``rounds`` rounds.
    """
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for _ in range(reps):
                fn()
            samples[name].append((time.perf_counter() - start) / reps)
    return {name: statistics.median(s) for name, s in samples.items()}


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
