"""Exercises: write the SGD-momentum, NAG, SAM and MSAM steps yourself, graded on golden cases.

A student writes one plain NumPy function per optimizer (see
:mod:`minimsam.exercises.catalogue` for the signature) and grades it with one call::

    from minimsam.exercises import check
    result = check("msam", msam_step)      # prints PASS, or the first divergence and the pitfall

or from the shell, ``minimsam exercise check msam my_msam.py`` (``--json`` for one JSON
line per exercise). The notebooks are in ``exercises/`` at the repository root; the
grader needs only the golden cases of :mod:`minimsam.crosscheck`, not the solutions.
"""

from __future__ import annotations

from minimsam.exercises.catalogue import EXERCISES, Exercise, cases_for
from minimsam.exercises.grader import ExerciseResult, Mismatch, check, grade
from minimsam.exercises.loading import load_function

__all__ = [
    "EXERCISES",
    "Exercise",
    "ExerciseResult",
    "Mismatch",
    "cases_for",
    "check",
    "grade",
    "load_function",
]
