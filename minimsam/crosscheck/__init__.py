"""Golden cases for cross-checking SGD, NAG, SAM, MSAM and AdamW(-MSAM) implementations.

A fixed catalogue of small problems (an MLP on fixed batches, the MLP with batch
norm, whose running statistics are recorded too, a 2-D surface), each
run through the reference optimizers of :mod:`minimsam.optim` under settings that
expose the known pitfalls, is exported as files any framework can read
(``FORMAT.md`` in this folder). A runner replays them through a PyTorch optimizer
and reports, per case, pass/fail, the first divergence and, where the divergence
matches a known pitfall, which one::

    from minimsam import crosscheck
    crosscheck.export("golden/")                                  # manifest.json + .npz
    report = crosscheck.check_torch("golden/", "msam", "minimsam.torch:MSAM")
    print(report.format())

From the shell: ``python -m minimsam.crosscheck export --out golden`` and
``python -m minimsam.crosscheck torch --cases golden --optimizer msam --impl
minimsam.torch:MSAM``. torch is imported only by the runner, jax and optax only by
``check_jax``. A run recorded in any other framework is checked from a trajectory
file (FORMAT.md) with :func:`check_trajectory_file` or ``crosscheck compare``.
"""

from __future__ import annotations

from pathlib import Path

from minimsam.crosscheck.case import OPTIMIZERS, Case, Trajectory
from minimsam.crosscheck.catalogue import SETTINGS, build_cases
from minimsam.crosscheck.compare import ATOL, RTOL, CaseResult, Report, check_case
from minimsam.crosscheck.fileformat import (
    load_cases,
    read_manifest,
    read_trajectories,
    write_cases,
    write_trajectories,
)
from minimsam.crosscheck.mutants import MUTANTS, PITFALLS
from minimsam.crosscheck.reference import run_reference
from minimsam.crosscheck.trajectory_file import check_trajectory_file

__all__ = [
    "ATOL",
    "MUTANTS",
    "OPTIMIZERS",
    "PITFALLS",
    "RTOL",
    "SETTINGS",
    "Case",
    "CaseResult",
    "Report",
    "Trajectory",
    "build_cases",
    "check_case",
    "check_jax",
    "check_torch",
    "check_trajectory_file",
    "export",
    "load_cases",
    "read_manifest",
    "read_trajectories",
    "run_reference",
    "write_cases",
    "write_trajectories",
]


def export(
    out_dir: str | Path, optimizers: list[str] | None = None, with_mutants: bool = False
) -> Path:
    """Build the catalogue's cases (all, or those of ``optimizers``) and write them to
    ``out_dir``; return the path of ``manifest.json``. ``with_mutants``: also write
    every mutant's trajectories, one trajectory file per mutant (FORMAT.md)."""
    if optimizers is not None:
        unknown = set(optimizers) - set(OPTIMIZERS)
        if unknown:
            raise ValueError(f"unknown optimizer(s) {sorted(unknown)}; known: {list(OPTIMIZERS)}")
    return write_cases(build_cases(optimizers), out_dir, with_mutants=with_mutants)


def check_torch(cases, optimizer: str, impl, adapter="auto", **kwargs) -> Report:
    """Check a PyTorch optimizer on the golden cases: see
    :func:`minimsam.crosscheck.torch_runner.check` (imports torch)."""
    from minimsam.crosscheck.torch_runner import check

    return check(cases, optimizer, impl, adapter, **kwargs)


def check_jax(cases, optimizer: str, impl, **kwargs) -> Report:
    """Check an optax transformation on the golden cases: see
    :func:`minimsam.crosscheck.jax_runner.check` (imports jax and optax)."""
    from minimsam.crosscheck.jax_runner import check

    return check(cases, optimizer, impl, **kwargs)
