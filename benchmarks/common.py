"""Shared benchmark machinery: interleaved timing, machine description, tables.

Contenders are timed in interleaved rounds (A B C A B C ...) inside one process, so
slow drifts of the machine (frequency, other load) hit every contender alike, and
ratios are taken between medians measured side by side.

The clock is wall time (``time.perf_counter``) unless ``set_clock("cpu")`` chooses this
process's CPU time (``time.process_time``): on a machine shared with other jobs, the time
a contender waits for a core is not its own, and CPU time leaves it out (with one BLAS
thread, CPU time is the step's time on its core).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from minimsam.timing import interleaved_medians, interleaved_samples


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


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = [time.perf_counter]


def set_clock(name: str) -> None:
    """Time with ``"wall"`` (default) or ``"cpu"`` time (see the module docstring)."""
    _clock[0] = CLOCKS[name]


def clock() -> float:
    """The current reading of the chosen clock, in seconds."""
    return _clock[0]()


def time_interleaved(
    contenders: dict[str, Callable[[], object]], rounds: int = 30, reps: int = 5, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call of each contender over ``rounds`` interleaved rounds of
    ``reps`` calls each, on the chosen clock (:func:`minimsam.timing.interleaved_medians`)."""
    return interleaved_medians(contenders, rounds, reps, warmup, clock=_clock[0])


def time_samples(
    contenders: dict[str, Callable[[], object]], rounds: int = 30, reps: int = 5, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of each contender in each of ``rounds`` interleaved rounds
    (:func:`minimsam.timing.interleaved_samples`, on the chosen clock)."""
    return interleaved_samples(contenders, rounds, reps, warmup, clock=_clock[0])


def ratio_spread(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """Median, first and third quartile of the per-round ratios ``num[i] / den[i]``.

    Contenders of one round ran side by side, so a round's ratio cancels the load the
    machine had then; the quartiles show how much the ratio still moved.
    """
    ratios = sorted(a / b for a, b in zip(num, den))
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return statistics.median(ratios), q1, q3


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
