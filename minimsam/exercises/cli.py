"""The exercise command: grade a student's step function from the shell.

::

    minimsam exercise list
    minimsam exercise check msam path/to/solution.py[:function] [--json] [--student NAME]
    minimsam exercise check msam 04_msam.ipynb            # a filled-in notebook
    minimsam exercise check all path/to/folder/ [--json]  # sgd_momentum.py, nag.py, ...
    minimsam exercise check msam mine.py --form memory-free --time-limit 10

``check`` prints the verdict (``--json``: one JSON line per exercise instead, for an
instructor to collect) and exits with status 0 if every exercise passes, 1 otherwise.
With ``all``, the folder holds one file per exercise, named after its function less
``_step`` (the layout of ``exercises/solutions/``), or the exercise notebooks under
their own names; a missing one is graded "not implemented". ``--form memory-free``
grades an MSAM step that holds the perturbed point (the paper's Algorithm 1);
``--time-limit`` is the seconds each case may take (default 60). ``python -m
minimsam.exercises ...`` runs the same commands.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from minimsam.crosscheck.cli import add_tolerances, run_program
from minimsam.exercises.catalogue import EXERCISES, get
from minimsam.exercises.grader import NOT_IMPLEMENTED, ExerciseResult, grade
from minimsam.exercises.loading import find_solution, load_function
from minimsam.exercises.runner import TIME_LIMIT

__all__ = ["add_subparser", "main"]


def _grade_one(name: str, spec: str, args: argparse.Namespace) -> tuple[ExerciseResult, str]:
    exercise = get(name)
    if args.exercise == "all":
        path = find_solution(Path(spec), exercise)
        if path is None:
            missing = f"no {exercise.solution_file} or {exercise.notebook} in {spec}"
            message = f"NOT IMPLEMENTED YET  {exercise.name}: {missing}"
            result = ExerciseResult(exercise.name, exercise.function, NOT_IMPLEMENTED, message)
            return result, str(Path(spec) / exercise.solution_file)
        spec = str(path)
    step = load_function(spec, exercise.function)
    form = args.form if exercise.optimizer == "msam" else "standard"
    return grade(exercise, step, args.atol, args.rtol, form, args.time_limit), spec


def _check(args: argparse.Namespace) -> int:
    if args.exercise == "all":
        if not Path(args.solution).is_dir():
            raise ValueError(f"'check all' needs a folder of solutions, got {args.solution!r}")
        names = list(EXERCISES)
    else:
        names = [get(args.exercise).name]
    passed = True
    for name in names:
        result, solution = _grade_one(name, args.solution, args)
        passed &= result.passed
        if args.json:
            extra = {"student": args.student} if args.student else {}
            print(result.to_json(**extra, solution=solution), flush=True)
        else:
            print(result.format(), flush=True)
    return 0 if passed else 1


def _list(args: argparse.Namespace) -> int:
    for exercise in EXERCISES.values():
        print(f"{exercise.name:13s} {exercise.title}\n{'':13s} {exercise.signature}")
    return 0


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def _add_commands(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=lambda args: parser.print_help() or 2, backend="numpy")
    commands = parser.add_subparsers(dest="exercise_command", metavar="{check,list}")
    commands.add_parser("list", help="the exercises and their signatures").set_defaults(func=_list)
    check = commands.add_parser("check", help="grade a step function on the golden cases")
    check.add_argument("exercise", choices=[*EXERCISES, "all"], help="which exercise, or all")
    check.add_argument(
        "solution",
        help="file.py[:function] (default function: e.g. msam_step), a notebook, or a folder",
    )
    check.add_argument("--json", action="store_true", help="one JSON line per exercise")
    check.add_argument("--student", help="a name to put in the JSON lines (with --json)")
    add_tolerances(
        check, "msam only: memory-free if your step holds the perturbed point (Algorithm 1)"
    )
    check.add_argument(
        "--time-limit",
        type=_seconds,
        default=TIME_LIMIT,
        metavar="SECONDS",
        help=f"seconds each golden case may take (default {TIME_LIMIT:g})",
    )
    check.set_defaults(func=_check)


def add_subparser(subparsers) -> argparse.ArgumentParser:
    """Register ``exercise`` on ``subparsers`` (from ``parser.add_subparsers()``)."""
    parser = subparsers.add_parser(
        "exercise",
        help="grade your own SGD-momentum, NAG, SAM or MSAM step",
        description=__doc__.split("\n\n")[0],
    )
    _add_commands(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``minimsam exercise`` as a program of its own; returns the exit status."""
    return run_program("minimsam exercise", __doc__, _add_commands, argv, (ValueError, OSError))
