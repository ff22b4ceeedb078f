"""Check a trajectory file: the runs of any framework, recorded as plain arrays.

A user of JAX, TensorFlow, plain NumPy or anything else replays the golden cases with
their own optimizer and saves what FORMAT.md ("Trajectory files") lists with
``np.savez``; ``minimsam crosscheck compare --cases DIR --trajectory FILE`` then prints
the same report and diagnosis as the PyTorch runner, importing neither torch nor jax.
"""

from __future__ import annotations

from pathlib import Path

from minimsam.crosscheck.case import Case
from minimsam.crosscheck.compare import ATOL, RTOL, Report, check_case
from minimsam.crosscheck.fileformat import read_trajectories, select_cases

__all__ = ["check_trajectory_file"]


def check_trajectory_file(
    cases: str | Path | list[Case],
    trajectory: str | Path,
    optimizer: str | None = None,
    atol: float = ATOL,
    rtol: float = RTOL,
    form: str = "standard",
    names: list[str] | None = None,
) -> Report:
    """The report on the runs in ``trajectory`` (a ``.npz`` trajectory file).

    ``cases``: a folder written by ``export``, or a list of cases. The cases checked
    are those the file holds; they must all be of one optimizer (or give ``optimizer``).
    A case of that optimizer the file lacks is listed in ``report.missing`` and the
    report does not pass, unless ``names`` (the cases meant) leaves it out.
    """
    cases = [c for c in select_cases(cases, optimizer) if not names or c.name in names]
    runs = read_trajectories(trajectory, cases)
    checked = [c for c in cases if c.name in runs]
    optimizers = sorted({c.optimizer for c in checked})
    if len(optimizers) != 1:
        raise ValueError(
            f"{trajectory} holds cases of {optimizers}: pass --optimizer to check one of them"
        )
    results = []
    for case in checked:
        got, error = runs[case.name]
        results.append(check_case(case, got, atol, rtol, error=error, form=form))
    missing = [c.name for c in cases if c.optimizer == optimizers[0] and c.name not in runs]
    return Report(optimizers[0], str(trajectory), "trajectory file", results, missing=missing)
