"""The crosscheck command: export golden cases, and check against them a PyTorch optimizer,
a JAX/optax transformation, or a trajectory file recorded in any framework.

::

    minimsam crosscheck export --out golden/ [--optimizer msam ...] [--with-mutants]
    minimsam crosscheck torch --optimizer msam --impl minimsam.torch:MSAM [--cases golden/]
                              [--adapter auto|step|two-step|move-back-up|module:Class]
                              [--case NAME ...] [--atol 1e-10] [--rtol 1e-8] [--json report.json]
                              [--world-size N [--timeout 300] [--port 0]]
    minimsam crosscheck compare --cases golden/ --trajectory mine.npz [--optimizer msam]
    minimsam crosscheck jax --optimizer msam --impl minimsam.jax:msam [--calls-per-step 1]

``python -m minimsam.crosscheck ...`` runs the same commands. ``torch`` and ``jax``
export the cases into a temporary folder when ``--cases`` is not given; every check
prints the report and exits with status 0 if every case passes, 1 otherwise.
``compare`` checks a trajectory file recorded in any framework (FORMAT.md) and
imports neither torch nor jax. ``--impl`` may name a module in
the current directory.

For the main ``minimsam`` command: :func:`add_subparser` registers ``crosscheck`` on
an ``argparse`` sub-parsers object; every leaf parser sets ``func``, to be called as
``args.func(args)`` and returning the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from minimsam.atomic import write_text
from minimsam.crosscheck.case import OPTIMIZERS
from minimsam.crosscheck.compare import ATOL, FORMS, RTOL

__all__ = ["add_subparser", "add_tolerances", "main", "run_program"]


def _export(args: argparse.Namespace) -> int:
    from minimsam.crosscheck import export

    if args.world_size is not None:  # data parallel: minimsam.crosscheck.parallel_runner
        from minimsam.crosscheck.parallel_runner import export_command

        return export_command(args)
    manifest = export(args.out, optimizers=args.optimizer, with_mutants=args.with_mutants)
    data = json.loads(manifest.read_text())
    extra = f" and {len(data['mutants'])} mutants" if args.with_mutants else ""
    print(
        f"wrote {len(data['cases'])} cases{extra} to {manifest.parent} (manifest: {manifest.name})"
    )
    return 0


def _finish(report, args) -> int:
    print(report.format())
    if args.json:
        write_text(args.json, json.dumps(report.to_dict(), indent=1, default=str) + "\n")
    return 0 if report.passed else 1


def _compare(args: argparse.Namespace) -> int:
    from minimsam.crosscheck.trajectory_file import check_trajectory_file

    report = check_trajectory_file(args.cases, args.trajectory, args.optimizer, **_options(args))
    return _finish(report, args)


def _options(args: argparse.Namespace) -> dict:
    """The keywords every check takes from the command line: the cases named, the tolerances."""
    return {"names": args.case, "atol": args.atol, "rtol": args.rtol, "form": args.form}


def _check(args: argparse.Namespace, check, **options) -> int:
    """Run ``check`` (``check_torch``, ``check_jax``) on ``--cases``, or on the cases
    exported into a temporary folder, and report."""
    from minimsam.crosscheck import export

    if os.getcwd() not in sys.path:  # --impl may name a module of the project being checked
        sys.path.insert(0, os.getcwd())
    with tempfile.TemporaryDirectory() as tmp:
        cases = args.cases or export(tmp, optimizers=[args.optimizer]).parent
        report = check(cases, args.optimizer, args.impl, **options, **_options(args))
    return _finish(report, args)


def _torch(args: argparse.Namespace) -> int:
    from minimsam.crosscheck import check_torch

    if args.world_size is not None:  # data parallel: the workers import --impl themselves
        from minimsam.crosscheck.parallel_runner import torch_command

        return torch_command(args, _finish)
    return _check(args, check_torch, adapter=args.adapter)


def _jax(args: argparse.Namespace) -> int:
    from minimsam.crosscheck import check_jax

    return _check(args, check_jax, calls_per_step=args.calls_per_step, jit=not args.no_jit)


FORM_HELP = "memory-free: the params hold MSAM's perturbed point (the paper's Algorithm 1)"


def add_tolerances(parser: argparse.ArgumentParser, form_help: str = FORM_HELP) -> None:
    """``--atol``, ``--rtol`` and ``--form``: how a run is compared (``minimsam exercise`` too)."""
    parser.add_argument("--atol", type=float, default=ATOL, help=f"default {ATOL}")
    parser.add_argument("--rtol", type=float, default=RTOL, help=f"default {RTOL}")
    parser.add_argument("--form", choices=FORMS, default="standard", help=form_help)


def _data_parallel_options(parser: argparse.ArgumentParser) -> None:
    """``--world-size`` and its companions (minimsam.crosscheck.parallel_runner)."""
    parser.add_argument(
        "--world-size",
        type=int,
        help="run the data-parallel cases in this many gloo processes (recipes as --adapter: "
        "auto, step, two-step or module:Class)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="stop every worker after this many s"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="rendezvous port (default 0: a free one)"
    )


def _add_commands(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    commands = parser.add_subparsers(
        dest="crosscheck_command", metavar="{export,torch,compare,jax}"
    )

    export = commands.add_parser("export", help="write the golden cases (manifest.json + .npz)")
    export.add_argument("--out", required=True, help="folder to write (created if needed)")
    export.add_argument(
        "--optimizer",
        nargs="+",
        choices=list(OPTIMIZERS),
        help="only these optimizers' cases (default: all)",
    )
    export.add_argument(
        "--with-mutants",
        action="store_true",
        help="also write every mutant's trajectories (mutants/<optimizer>/<mutant>.npz)",
    )
    export.add_argument(
        "--world-size",
        type=int,
        help="write the data-parallel cases for this many workers instead",
    )
    export.set_defaults(func=_export)

    compare = commands.add_parser(
        "compare", help="check a trajectory file recorded in any framework (FORMAT.md)"
    )
    compare.add_argument("--cases", required=True, help="folder written by export")
    compare.add_argument("--trajectory", required=True, help="the .npz trajectory file")
    compare.add_argument("--optimizer", choices=list(OPTIMIZERS), help="if the file mixes them")
    compare.add_argument("--case", nargs="+", help="only these cases (others are not missing)")
    compare.add_argument("--json", help="also write the report as JSON to this file")
    add_tolerances(compare)
    compare.set_defaults(func=_compare)

    torch_impl = "package.module:Name, called as Name(params, lr=..., ...)"
    torch = _checker(commands, "torch", "a PyTorch optimizer", _torch, torch_impl)
    torch.add_argument(
        "--adapter",
        default="auto",
        help="auto, step, two-step, move-back-up, or package.module:AdapterClass",
    )
    _data_parallel_options(torch)
    jax_impl = "package.module:factory, called as factory(learning_rate=schedule, ...)"
    jax = _checker(commands, "jax", "a JAX/optax transformation", _jax, jax_impl)
    jax.add_argument(
        "--calls-per-step",
        type=int,
        help="update calls per optimizer step (optax.contrib.sam: its sync_period, 2)",
    )
    jax.add_argument("--no-jit", action="store_true", help="run update without jax.jit")


def _checker(commands, name: str, what: str, func, impl: str) -> argparse.ArgumentParser:
    """The parser of ``torch`` or ``jax``, with the options both take."""
    check = commands.add_parser(name, help=f"check {what} on the golden cases")
    check.add_argument(
        "--optimizer",
        required=True,
        choices=list(OPTIMIZERS),
        help="which algorithm the implementation claims to be",
    )
    check.add_argument("--impl", required=True, help=impl)
    check.add_argument("--cases", help="folder written by export (default: export to a temp dir)")
    check.add_argument("--case", nargs="+", help="only these cases, by name")
    check.add_argument("--json", help="also write the report as JSON to this file")
    add_tolerances(check)
    check.set_defaults(func=func)
    return check


def add_subparser(subparsers) -> argparse.ArgumentParser:
    """Register ``crosscheck`` on ``subparsers`` (from ``parser.add_subparsers()``).

    The parsed arguments carry ``backend="numpy"``: the golden cases are host float64
    data, computed on the NumPy backend whatever backend is active.
    """
    parser = subparsers.add_parser(
        "crosscheck",
        help="golden cases for cross-checking optimizer implementations",
        description=__doc__.split("\n\n")[0],
    )
    parser.set_defaults(backend="numpy")
    _add_commands(parser)
    return parser


def run_program(prog: str, doc: str, add_commands, argv, errors: tuple) -> int:
    """Parse ``argv`` as the program ``prog`` and run its command; the exit status.
    A user error (one of ``errors``) is one line on stderr, without a traceback."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    add_commands(parser)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except errors as err:
        print(f"{prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """``minimsam crosscheck`` as a program of its own; returns the exit status."""
    errors = (ValueError, OSError, ImportError, AttributeError)
    return run_program("minimsam crosscheck", __doc__, _add_commands, argv, errors)
