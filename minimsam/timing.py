"""Timing several functions side by side, in alternating rounds.

Every round calls each function ``calls`` times in a row (A A B B C C, then again), so a
slow drift of the machine (its clock frequency, other jobs) hits all of them alike; the
median over rounds ignores the rounds that a burst of load spoilt. Tutorial 01 and the
benchmarks both time this way.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any


def interleaved_samples(
    funs: Mapping[str, Callable[[], Any]],
    rounds: int = 30,
    calls: int = 5,
    warmup: int = 0,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per call of each function in each of ``rounds`` alternating rounds.

    Each function is first called ``warmup`` times untimed (caches, lazy imports, BLAS
    start-up); ``clock`` is wall time unless the caller passes another (``time.process_time``
    leaves out the time a process waits for a core on a shared machine).
    """
    for fun in funs.values():
        for _ in range(warmup):
            fun()
    samples: dict[str, list[float]] = {name: [] for name in funs}
    for _ in range(rounds):
        for name, fun in funs.items():
            start = clock()
            for _ in range(calls):
                fun()
            samples[name].append((clock() - start) / calls)
    return samples


def interleaved_medians(
    funs: Mapping[str, Callable[[], Any]],
    rounds: int = 30,
    calls: int = 5,
    warmup: int = 0,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Each function's median seconds per call over the rounds of :func:`interleaved_samples`."""
    samples = interleaved_samples(funs, rounds, calls, warmup, clock)
    return {name: statistics.median(s) for name, s in samples.items()}
