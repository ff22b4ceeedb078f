"""The ``minimsam`` command: train, compare optimizers, draw trajectories on toy surfaces.

::

    minimsam train --optimizer msam --epochs 30 --out runs/msam
    minimsam compare --optimizers sgd,nag,sam,msam --seeds 3 --out runs/compare
    minimsam landscape --surface sharp-flat --optimizers sgd,nag,sam,msam --out traj.png
    minimsam exercise check msam my_msam.py [--json]

Also ``python -m minimsam ...``. ``train`` and ``compare`` run the BLAS with one thread
unless told otherwise (``--blas-threads``): their models are small, and more threads only
add synchronisation (``minimsam compare`` on a busy 2-core Xeon: 1155 s with two threads,
33 to 60 s with one). Every error the user can cause (a bad argument, a
missing dataset, an unavailable backend, a diverging run) ends the command with a
non-zero status and one line ``minimsam: error: ...`` on stderr, without a traceback.
Plots use matplotlib's object-oriented API (no pyplot, no global backend switch),
imported only when a figure is drawn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import data, nn, rundir, train
from minimsam.atomic import atomic_write, write_text
from minimsam.data import datasets, landscapes

__all__ = ["main", "build_parser"]

#: rho used on the toy surfaces when --rho is not given (the surfaces have unit scale).
LANDSCAPE_RHO = {"sam": 0.1, "msam": 0.3, "adamw-msam": 0.3}


# ----------------------------------------------------------------------------- parsing


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"minimsam: error: {message}\n")


def _name_list(valid: Sequence[str]):
    def parse(text: str) -> list[str]:
        names = [s.strip() for s in text.split(",") if s.strip()]
        unknown = [n for n in names if n not in valid]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown name(s) {', '.join(unknown) or repr(text)}; valid: {', '.join(valid)}"
            )
        return names

    return parse


def _int_list(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 256,256, got {text!r}")
    return sizes


def _int_at_least(low: int):
    """An argparse type: an integer >= ``low`` (argparse names the option in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse


def _dataset_name(text: str) -> str:
    """A dataset name as ``data.load`` accepts it (``fashion_mnist``, ``mnist-1d``, ...)."""
    try:
        return datasets.canonical_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a point x,y like -1.5,0.5, got {text!r}"
        ) from None
    return x, y


def _defaults_text() -> str:
    lines = [
        "per-optimizer defaults (where --lr/--momentum/--rho/--weight-decay are not given),",
        "coarsely tuned for MNIST-1D with an MLP 40-256-256-10, 30 epochs, cosine schedule:",
    ]
    for name, hyper in train.DEFAULTS.items():
        lines.append(f"  {name:<11} " + "  ".join(f"{k}={v:g}" for k, v in hyper.items()))
    return "\n".join(lines)


def _add_training_options(p: argparse.ArgumentParser) -> None:
    # fmt: off
    g = p.add_argument_group("data and model")
    g.add_argument("--dataset", type=_dataset_name, default="mnist1d",
                   metavar="{" + ",".join(data.DATASETS) + "}",
                   help="default: mnist1d (4000 train / 1000 test signals, generated locally); "
                   "also fashion_mnist, mnist-1d as in data.load")
    g.add_argument("--data-dir", help="read the dataset from this folder only (refused, never "
                   "replaced, if files are missing); default: the installed copies")
    g.add_argument("--no-download", action="store_true",
                   help="fail instead of downloading Fashion-MNIST/MNIST")
    g.add_argument("--n-train", type=_int_at_least(1),
                   help="use this many training samples (default: all)")
    g.add_argument("--label-noise", type=float, default=0.0,
                   help="fraction of training labels flipped to another class (default 0)")
    g.add_argument("--data-seed", type=_int_at_least(0), default=0,
                   help="seed of the --n-train subset and the label noise (default 0)")
    g.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                   help="mlp (any dataset) or cnn (28x28 images only); default mlp")
    g.add_argument("--hidden", type=_int_list, default=[256, 256],
                   help="MLP hidden sizes, e.g. 256,256 (default)")
    g.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the data, weights and optimizer state (default float32)")
    g = p.add_argument_group("optimization")
    g.add_argument("--lr", type=float, help="learning rate (peak value under a schedule)")
    g.add_argument("--momentum", type=float, help="momentum (SGD family)")
    g.add_argument("--rho", type=float, help="perturbation radius (SAM, MSAM, AdamW-MSAM)")
    g.add_argument("--weight-decay", type=float,
                   help="weight decay lambda (default per optimizer, see below; "
                   "docs/optimizers.md says where each optimizer applies it)")
    g.add_argument("--schedule", choices=train.SCHEDULES, default="cosine",
                   help="learning-rate schedule over the whole run (default cosine)")
    g.add_argument("--warmup-epochs", type=_int_at_least(0), default=0,
                   help="linear warm-up epochs (with --schedule warmup-cosine)")
    g.add_argument("--epochs", type=_int_at_least(0), default=30, help="default 30")
    g.add_argument("--batch-size", type=_int_at_least(1), default=128, help="default 128")
    g.add_argument("--label-smoothing", type=float, default=0.0,
                   help="cross-entropy with label smoothing eps: the target puts 1 - eps on "
                   "the label and eps spread evenly over all classes (default 0)")
    g = p.add_argument_group("running")
    _add_backend_option(g)
    g.add_argument("--blas-threads", type=_blas_threads, default="auto", metavar="{auto,N}",
                   help="threads of NumPy's BLAS. auto (default): 1, which is fastest for "
                   "models this small, unless OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or "
                   "MKL_NUM_THREADS is set (then that is used); N: exactly N")
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    g.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint in --out (bitwise the same trajectory); "
                   "an error if --out holds no checkpoint")
    g.add_argument("--force", action="store_true",
                   help="replace a run already in --out (default: refuse)")
    # fmt: on


def _blas_threads(text: str) -> str | int:
    """``--blas-threads``: ``auto`` or a positive integer."""
    if text.strip().lower() == "auto":
        return "auto"
    return _int_at_least(1)(text)


#: Environment variables through which a user sets the BLAS thread count themselves.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_thread_count(option: str | int, environ: os._Environ | dict = os.environ) -> int | None:
    """The BLAS threads a command runs with: ``N`` for ``--blas-threads N``; for ``auto``,
    1 unless one of :data:`BLAS_THREAD_VARIABLES` is set (None: leave the BLAS as the
    environment configured it)."""
    if option != "auto":
        return int(option)
    if any(environ.get(name, "").strip() for name in BLAS_THREAD_VARIABLES):
        return None
    return 1


@contextlib.contextmanager
def _blas_limit(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` BLAS threads (threadpoolctl); None: unchanged."""
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError(
            'setting the BLAS threads needs threadpoolctl: pip install "minimsam[cli]"'
        ) from None
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def _add_backend_option(p) -> None:
    p.add_argument("--backend", choices=("numpy", "cupy"),
                   help=f"default: ${ms.backend.ENV_VAR} if set, else numpy")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``minimsam`` command."""
    parser = _Parser(prog="minimsam", description="SGD, NAG, SAM and Momentum-SAM from scratch.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("train", help="train one model", epilog=_defaults_text(),
                       formatter_class=fmt)  # fmt: skip
    p.add_argument(
        "--optimizer", choices=list(train.OPTIMIZERS), default="msam", help="default msam"
    )
    p.add_argument("--seed", type=_int_at_least(0), default=0,
                   help="initialisation and batch-order seed")  # fmt: skip
    p.add_argument(
        "--out",
        help="write log.jsonl, summary.json and checkpoint.npz here, so "
        "that --resume can continue the run (default: none, nothing is saved)",
    )
    _add_training_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compare", help="compare optimizers over seeds", formatter_class=fmt,
                       epilog=_defaults_text() + "\n--lr/--momentum/--rho/--weight-decay apply "
                       "to every optimizer that has that hyperparameter.")  # fmt: skip
    p.add_argument(
        "--optimizers",
        type=_name_list(list(train.OPTIMIZERS)),
        default=["sgd", "nag", "sam", "msam"],
        help="default sgd,nag,sam,msam",
    )
    p.add_argument("--seeds", type=_int_at_least(1), default=3, help="number of seeds (default 3)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="first seed (default 0)")
    p.add_argument(
        "--out",
        default="runs/compare",
        help="comparison.md/.json/.png and one folder per run (default runs/compare); a "
        "second comparison into the same folder needs --force (replace) or --resume",
    )
    _add_training_options(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("landscape", help="optimizer trajectories on a toy 2-D surface",
                       formatter_class=fmt, epilog="rho defaults on the surfaces: "
                       + ", ".join(f"{k} {v:g}" for k, v in LANDSCAPE_RHO.items()))  # fmt: skip
    p.add_argument("--surface", choices=list(landscapes.LANDSCAPES), default="sharp-flat")
    p.add_argument(
        "--optimizers",
        type=_name_list(list(train.OPTIMIZERS)),
        default=["sgd", "nag", "sam", "msam"],
        help="default sgd,nag,sam,msam",
    )
    p.add_argument("--steps", type=_int_at_least(1), default=300, help="default 300")
    p.add_argument("--lr", type=float, help="default: the surface's stable learning rate")
    p.add_argument("--momentum", type=float, help="default 0.9 (SGD family)")
    p.add_argument("--rho", type=float, help="radius for SAM-type optimizers")
    p.add_argument("--start", type=_point, help="starting point x,y (default: the surface's)")
    p.add_argument("--noise", type=float, default=0.0, help="std of Gaussian gradient noise")
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the gradient noise")
    _add_backend_option(p)
    p.add_argument("--out", default="landscape.png", help="the figure (default landscape.png)")
    p.set_defaults(func=cmd_landscape)

    from minimsam.crosscheck import cli as crosscheck_cli  # torch is imported only on use

    crosscheck_cli.add_subparser(sub)
    from minimsam.exercises import cli as exercises_cli

    exercises_cli.add_subparser(sub)
    _plain_descriptions(parser)
    return parser


def _plain(text: str | None) -> str | None:
    """``text`` without reST inline markup (````x````, ``:role:`x```, a ``::`` line end),
    for ``--help``: descriptions taken from docstrings read as plain text."""
    if not text:
        return text
    text = re.sub(r":[a-z:]+:`~?([^`]+)`", r"\1", text)
    text = text.replace("``", "")
    return re.sub(r"::$", ":", text, flags=re.MULTILINE)


def _plain_descriptions(parser: argparse.ArgumentParser) -> None:
    """Strip reST markup from the description of ``parser`` and every subcommand's."""
    parser.description = _plain(parser.description)
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for choice in getattr(action, "choices", {}).values():
            if isinstance(choice, argparse.ArgumentParser):
                _plain_descriptions(choice)
        for choice in getattr(action, "_choices_actions", ()):
            choice.help = _plain(choice.help)


#: Subcommands with a --backend option; the others run on NumPy by design.
BACKEND_COMMANDS = ("train", "compare", "landscape")


def _backend_name(args: argparse.Namespace) -> str:
    """``--backend``, else ``$MINIMSAM_BACKEND``, else numpy; both given and different: error."""
    if args.command not in BACKEND_COMMANDS:
        return getattr(args, "backend", None) or "numpy"
    env = os.environ.get(ms.backend.ENV_VAR, "").strip()
    if env and env.lower() not in ms.available_backends():
        raise ValueError(
            f"{ms.backend.ENV_VAR}={env!r} is not a backend; valid: "
            f"{', '.join(ms.available_backends())} (or unset it)"
        )
    if args.backend and env and args.backend != env.lower():
        raise ValueError(
            f"--backend {args.backend} conflicts with {ms.backend.ENV_VAR}={env}; "
            "give only one of them"
        )
    return args.backend or env.lower() or "numpy"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = None
    try:
        if argv[:1] == ["figures"]:  # moved out of the package; say where
            return cmd_figures(argparse.Namespace(figure_args=argv[1:]))
        args = build_parser().parse_args(argv)
        ms.set_backend(_backend_name(args))
        threads = getattr(args, "blas_threads", None)
        with _blas_limit(None if threads is None else blas_thread_count(threads)):
            return args.func(args)
    except KeyboardInterrupt:
        print(_interrupted(args), file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError,
            ms.BackendUnavailableError) as err:  # fmt: skip
        message = " ".join(_message(err).split()) or type(err).__name__
        print(f"minimsam: error: {message}", file=sys.stderr)
        return 1


def _interrupted(args: argparse.Namespace | None) -> str:
    """The one line after Ctrl-C: whether anything was saved that --resume can continue."""
    command = getattr(args, "command", None)
    if command not in ("train", "compare"):
        return "minimsam: interrupted"
    if not args.out:
        return "minimsam: interrupted; nothing was saved (give --out DIR to keep checkpoints)"
    if not _checkpoints(args):
        return f"minimsam: interrupted before the first epoch ended; nothing saved in {args.out}"
    return (
        f"minimsam: interrupted; the finished epochs are saved in {args.out}: continue with "
        "the same command and --resume"
    )


def _checkpoints(args: argparse.Namespace) -> list[Path]:
    """The checkpoints under ``--out``: its own (train), its runs' (compare)."""
    out = Path(args.out)
    pattern = train.CHECKPOINT if args.command == "train" else f"*/{train.CHECKPOINT}"
    return sorted(out.glob(pattern)) if out.is_dir() else []


def _check_out_folder(args: argparse.Namespace, runs: Sequence[Path]) -> None:
    """Refuse, in terms of the command's options, what ``train.fit`` would refuse or do
    silently: --resume without a checkpoint, a new run over an old one."""
    if args.resume and not _checkpoints(args):
        raise ValueError(
            f"--resume: no checkpoint in {args.out}, so there is nothing to continue; check "
            "the folder's name, or start a new run without --resume"
        )
    if args.resume or args.force:
        return
    used = [run for run in runs if any((run / f).exists() for f in rundir.RUN_FILES)]
    if used:
        what = "a run" if args.command == "train" else f"a comparison ({used[0].name}, ...)"
        raise ValueError(
            f"{args.out} already holds {what}: add --force to replace it, --resume to "
            "continue it, or give another folder with --out"
        )


def _message(err: BaseException) -> str:
    """The error's text; an ``OSError`` as ``PATH: reason`` (no ``[Errno N]``)."""
    if isinstance(err, OSError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


FIGURES_MOVED = (
    "minimsam: error: `minimsam figures` has moved: the figures are drawn from a checkout "
    "of the repository with `python -m experiments.figures` (see docs/figures.md)"
)


def cmd_figures(args: argparse.Namespace) -> int:
    """``minimsam figures``: the generator is not installed; one line says where it is
    (on stdout with status 0 for ``--help``, else as an error)."""
    if args.figure_args[:1] in (["-h"], ["--help"]):
        print(FIGURES_MOVED.removeprefix("minimsam: error: "))
        return 0
    print(FIGURES_MOVED, file=sys.stderr)
    return 2


# ----------------------------------------------------------------------------- train, compare


def _load_data(args: argparse.Namespace) -> data.Dataset:
    if args.model == "cnn" and args.dataset == "mnist1d":
        raise ValueError("--model cnn needs 28x28 images (fashion-mnist, mnist); use --model mlp")
    return data.load(
        args.dataset, data_dir=args.data_dir, n_train=args.n_train, label_noise=args.label_noise,
        seed=args.data_seed, flatten=args.model == "mlp", dtype=args.dtype,
        download=not args.no_download,
    )  # fmt: skip


def _make_model(args: argparse.Namespace, ds: data.Dataset) -> nn.Sequential:
    if args.model == "cnn":
        return nn.SmallCNN(in_channels=ds.input_shape[0], num_classes=ds.num_classes)
    return nn.MLP([int(np.prod(ds.input_shape)), *args.hidden, ds.num_classes])


HYPERPARAMETERS = ("lr", "momentum", "rho", "weight_decay")


def _checked_rho(value: float) -> float:
    """``--rho`` as given; a negative radius is an error that says where it is shown."""
    if value < 0:
        raise ValueError(
            f"--rho must be >= 0, got {value:g}; for a negative rho (a step back along +v, "
            "paper Fig. 2A) see tutorials/04_msam.ipynb, section 'Negative rho'"
        )
    return value


def _hyperparameters(args: argparse.Namespace, name: str, strict: bool = False) -> dict[str, Any]:
    """The hyperparameters ``name`` runs with: its defaults, overridden by the options given.

    An option the optimizer does not have is an error if ``strict`` (``train``), else
    ignored (``compare``, where ``--rho`` applies to the SAM-type optimizers only).
    """
    hyper = dict(train.DEFAULTS[name])
    for key in HYPERPARAMETERS:
        value = getattr(args, key, None)
        if value is None:
            continue
        if key in hyper:
            hyper[key] = _checked_rho(value) if key == "rho" else value
        elif strict:
            option = "--" + key.replace("_", "-")
            raise ValueError(f"{option} does not apply to optimizer {name!r}")
    return hyper


def _check_optimizers(args: argparse.Namespace, names: Sequence[str]) -> None:
    """Build each optimizer once before any data is loaded, so bad values fail fast."""
    for name in names:
        train.make_optimizer(name, **_hyperparameters(args, name, args.command == "train"))
    if args.warmup_epochs and args.schedule != "warmup-cosine":
        raise ValueError(
            f"--warmup-epochs needs --schedule warmup-cosine, got --schedule {args.schedule}"
        )
    if args.schedule == "warmup-cosine" and args.warmup_epochs >= max(args.epochs, 1):
        raise ValueError(
            f"--warmup-epochs {args.warmup_epochs} must be less than --epochs {args.epochs}"
        )


def _run(args, name: str, seed: int, ds: data.Dataset, out: Path | None, echo) -> train.FitResult:
    """One training run of optimizer ``name`` with ``seed``; ``echo(record)`` after each epoch."""
    steps = data.num_batches(len(ds.y_train), args.batch_size)
    hyper = _hyperparameters(args, name, strict=args.command == "train")
    opt = train.make_optimizer(
        name, **hyper, schedule=args.schedule, warmup_steps=args.warmup_epochs * steps,
        total_steps=max(args.epochs * steps, 1),
    )  # fmt: skip
    model = _make_model(args, ds)
    config = {k: v for k, v in vars(args).items() if k != "func"}
    config.update(optimizer=name, seed=seed)
    return train.fit(
        model, model.init(seed=seed, dtype=args.dtype), opt, ds, args.epochs,
        batch_size=args.batch_size, seed=seed, out_dir=out, resume=args.resume,
        overwrite=args.force, progress=False if args.quiet else None,
        callbacks=[echo] if echo else (),
        label_smoothing=args.label_smoothing, config=config,
    )  # fmt: skip


def _write(line: str) -> None:
    """Print ``line`` to stdout at once (also into a pipe) without breaking a progress bar
    on stderr."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        print(line, flush=True)
    else:
        tqdm.write(line)
        sys.stdout.flush()


def _threads_text(args: argparse.Namespace) -> str:
    threads = blas_thread_count(args.blas_threads)
    if threads is None:
        return "BLAS threads from the environment"
    return f"{threads} BLAS thread{'s' if threads > 1 else ''}, --blas-threads to change"


def _epoch_line(r: dict, epochs: int) -> str:
    train_part = "" if r["train_acc"] is None else (
        f"train_loss {r['train_loss']:.4f} train_acc {r['train_acc']:.4f}  ")  # fmt: skip
    return (
        f"epoch {r['epoch']:>3}/{epochs}  opt_loss {r['opt_loss']:.4f}  {train_part}"
        f"test_loss {r['test_loss']:.4f} test_acc {r['test_acc']:.4f}  {r['time']:.2f}s"
    )


def cmd_train(args: argparse.Namespace) -> int:
    """``minimsam train``: one run, a line per epoch, a summary at the end."""
    if args.resume and not args.out:
        raise ValueError("--resume needs --out (the folder holding checkpoint.npz)")
    if args.out:
        _check_out_folder(args, [Path(args.out)])
    _check_optimizers(args, [args.optimizer])
    ds = _load_data(args)
    echo = None if args.quiet else (lambda r, *_: _write(_epoch_line(r, args.epochs)))
    out = Path(args.out) if args.out else None
    with _announce(not args.quiet):
        result = _run(args, args.optimizer, args.seed, ds, out, echo)
    s, final = result.summary, result.summary["final"]
    if final is None:
        print("nothing to do: 0 epochs")
        return 0
    hyper = " ".join(f"{k}={v:g}" for k, v in _hyperparameters(args, args.optimizer).items())
    print(
        f"{args.optimizer} ({hyper}, {args.schedule} schedule) on {ds.name}: "
        f"test_acc {final['test_acc']:.4f}  test_loss {final['test_loss']:.4f}  "
        f"train_acc {final['train_acc']:.4f}  after {s['epochs']} epochs, "
        f"{s['time_per_epoch']:.2f} s/epoch, {s['grad_evals_per_step']:g} grad evals/step"
        + (f"; files in {out}" if out else "")
    )
    return 0


class _EchoHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        _write(self.format(record))


@contextlib.contextmanager
def _announce(enabled: bool) -> Iterator[None]:
    """Print the training loop's notes ("resuming from epoch N") while the block runs."""
    logger = logging.getLogger(train.__name__)
    if not enabled:
        yield
        return
    handler, level = _EchoHandler(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _writable_folder(folder: Path, option: str) -> Path:
    """Create ``folder`` if needed and check it can be written, before any work is done."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{option}: cannot create the folder {folder} ({err.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{option}: the folder {folder} is not writable")
    return folder


def _figure_path(path: str | Path, option: str = "--out") -> Path:
    """Check a figure's format and folder before the figure is computed."""
    path = Path(path)
    formats = _figure_formats()
    if path.suffix[1:].lower() not in formats:
        raise ValueError(
            f"{option} {path}: unknown figure format {path.suffix or '(none)'!r}; "
            f"use one of {', '.join('.' + f for f in sorted(formats))}"
        )
    _writable_folder(path.parent, option)
    return path


def _figure_formats() -> set[str]:
    _figure()  # the helpful ImportError when matplotlib is missing
    from matplotlib.backend_bases import FigureCanvasBase

    return set(FigureCanvasBase.get_supported_filetypes())


def _save(fig: Any, path: str | Path) -> None:
    """``fig.savefig`` into ``path`` atomically (a full disk leaves the old figure)."""
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, dpi=120, format=path.suffix[1:].lower() or "png")


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value)."""
    x = np.asarray(values, dtype=float)
    return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0


def _aggregate(name: str, hyper: dict, runs: list[tuple[int, train.FitResult]]) -> dict:
    finals = [r.summary["final"] for _, r in runs]
    test_mean, test_std = _mean_std([f["test_acc"] for f in finals])
    train_mean, train_std = _mean_std([f["train_acc"] for f in finals])
    return {
        "optimizer": name,
        "hyperparameters": hyper,
        "test_acc_mean": test_mean,
        "test_acc_std": test_std,
        "train_acc_mean": train_mean,
        "train_acc_std": train_std,
        "time_per_epoch": float(np.mean([r.summary["time_per_epoch"] for _, r in runs])),
        "grad_evals_per_step": float(np.mean([r.summary["grad_evals_per_step"] for _, r in runs])),
        "runs": [
            {"seed": seed, "final": r.summary["final"],
             "test_acc_curve": [h["test_acc"] for h in r.history]}
            for seed, r in runs
        ],
    }  # fmt: skip


def comparison_table(rows: list[dict], n_seeds: int) -> str:
    """A Markdown table of the comparison (also printed to the terminal)."""

    def pm(mean: float, std: float) -> str:
        return f"{mean:.4f} ± {std:.4f}" if n_seeds > 1 else f"{mean:.4f}"

    lines = [
        "| optimizer | hyperparameters | test acc | train acc | time/epoch | grad evals/step |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        hyper = " ".join(f"{k}={v:g}" for k, v in r["hyperparameters"].items())
        lines.append(
            f"| {r['optimizer']} | {hyper} | {pm(r['test_acc_mean'], r['test_acc_std'])} | "
            f"{pm(r['train_acc_mean'], r['train_acc_std'])} | {r['time_per_epoch']:.3f} s | "
            f"{r['grad_evals_per_step']:g} |"
        )
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    """``minimsam compare``: every optimizer with every seed; a table, JSON and a plot."""
    if args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1 for a comparison, got {args.epochs}")
    _check_optimizers(args, args.optimizers)
    seeds = list(range(args.seed, args.seed + args.seeds))
    folder = Path(args.out)
    _check_out_folder(args, [folder / f"{n}-seed{s}" for n in args.optimizers for s in seeds])
    out = _writable_folder(folder, "--out")
    _figure_formats()
    ds = _load_data(args)
    if not args.quiet:
        _write(
            f"{len(args.optimizers)} optimizers x {len(seeds)} seeds, {args.epochs} epochs "
            f"each, on {ds.name} ({_threads_text(args)}); a line after each run"
        )
    rows = []
    for name in args.optimizers:
        hyper = _hyperparameters(args, name)
        runs = []
        for seed in seeds:
            result = _run(args, name, seed, ds, out / f"{name}-seed{seed}", None)
            runs.append((seed, result))
            if not args.quiet:
                f = result.summary["final"]
                _write(f"{name:<10} seed {seed}: test_acc {f['test_acc']:.4f}  "
                       f"train_acc {f['train_acc']:.4f}  "
                       f"({result.summary['time_per_epoch']:.2f} s/epoch)")  # fmt: skip
        rows.append(_aggregate(name, hyper, runs))

    stats = "mean ± std over" if len(seeds) > 1 else "one seed,"
    arch = (
        "MLP " + "-".join(map(str, _make_model(args, ds).sizes)) if args.model == "mlp" else "CNN"
    )
    header = (
        f"{ds.name}, {len(ds.y_train)} training samples, {arch}, {args.epochs} epochs, "
        f"{args.schedule} schedule, batch {args.batch_size}; "
        f"final accuracies at the unperturbed weights, {stats} seeds {seeds}"
    )
    table = comparison_table(rows, len(seeds))
    print(header + "\n\n" + table)
    command = "minimsam " + " ".join(sys.argv[1:]) if sys.argv[1:] else "minimsam compare"
    write_text(out / "comparison.md", f"{header}\n\n{table}\n\nCommand: `{command}`\n")
    config = {k: v for k, v in vars(args).items() if k != "func"}
    report = {"description": header, "config": config, "seeds": seeds, "results": rows}
    write_text(out / "comparison.json", json.dumps(report, indent=2) + "\n")
    spread = f"mean of {len(seeds)} seeds, shaded: ± 1 std" if len(seeds) > 1 else "one seed"
    plot_comparison(rows, out / "comparison.png", title=f"{ds.name}: test accuracy ({spread})")
    print(f"wrote {out / 'comparison.md'}, comparison.json, comparison.png")
    return 0


# ----------------------------------------------------------------------------- landscape


def trajectory(surface: landscapes.Landscape, opt, start, steps: int, noise: float, seed: int):
    """The unperturbed iterates ``w_0 .. w_steps`` of ``opt`` on ``surface``: ``(steps+1, 2)``."""
    params = {"w": ms.asarray(np.asarray(start, dtype=np.float64))}
    state = opt.init(params)
    grad_fn = surface.grad_fn(noise=noise, seed=seed)
    points = [ms.to_numpy(params["w"])]
    for _ in range(steps):
        params, state, _ = opt.step(params, state, grad_fn)
        points.append(ms.to_numpy(opt.eval_params(params, state)["w"]))
    return np.stack(points)


def cmd_landscape(args: argparse.Namespace) -> int:
    """``minimsam landscape``: each optimizer's trajectory over the surface's contours."""
    out = _figure_path(args.out)
    surface = landscapes.get(args.surface)
    start = args.start or surface.start
    paths = {}
    for name in args.optimizers:
        hyper = {"lr": args.lr if args.lr is not None else surface.lr}
        if "momentum" in train.DEFAULTS[name]:
            hyper["momentum"] = args.momentum if args.momentum is not None else 0.9
        if "rho" in train.DEFAULTS[name]:
            hyper["rho"] = _checked_rho(args.rho) if args.rho is not None else LANDSCAPE_RHO[name]
        label = f"{name} (" + ", ".join(f"{k}={v:g}" for k, v in hyper.items()) + ")"
        # no weight decay: it would move the surfaces' minima
        opt = train.make_optimizer(name, **hyper, weight_decay=0.0, check_finite=True)
        path = trajectory(surface, opt, start, args.steps, args.noise, args.seed)
        paths[label] = path
        end = path[-1]
        loss = float(surface.values(end[0], end[1]))
        dists = [math.dist(end, m) for m in surface.minima]
        near = int(np.argmin(dists))
        print(f"{label:<45} end ({end[0]: .4f}, {end[1]: .4f})  loss {loss: .6f}  "
              f"nearest minimum {surface.minima[near]} at distance {dists[near]:.2e}")  # fmt: skip
    title = (f"{surface.name}: {args.steps} steps from {tuple(start)}"
             + (f", gradient noise {args.noise:g}" if args.noise else ""))  # fmt: skip
    plot_landscape(surface, paths, out, title=title)
    print(f"wrote {args.out}")
    return 0


# ----------------------------------------------------------------------------- plots


def _figure(**kwargs: Any):
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError('plots need matplotlib: pip install "minimsam[cli]"') from err
    return Figure(**kwargs)


def plot_comparison(rows: list[dict], path: str | Path, title: str = "") -> None:
    """Test accuracy per epoch: for each optimizer the mean over seeds and a +-1 std band."""
    from minimsam import viz

    fig = _figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    for index, row in enumerate(rows):
        curves = np.array([run["test_acc_curve"] for run in row["runs"]], dtype=float)
        epochs = np.arange(1, curves.shape[1] + 1)
        mean, std = curves.mean(axis=0), curves.std(axis=0)
        style = viz.optimizer_style(row["optimizer"], index)
        every = max(1, len(epochs) // 6)
        ax.plot(epochs, mean, label=row["optimizer"], markevery=(index % every, every), **style)
        if len(curves) > 1:
            ax.fill_between(epochs, mean - std, mean + std, color=style["color"], alpha=0.2)
    ax.set(xlabel="epoch", ylabel="test accuracy", title=title)
    ax.grid(alpha=0.3)
    viz.legend_outside(ax, ncols=min(len(rows), 4))
    _save(fig, path)


def plot_landscape(surface: landscapes.Landscape, paths: dict, path: str | Path,
                   title: str = "") -> None:  # fmt: skip
    """Contours of ``surface`` with each trajectory (``{label: (T, 2) array}``) drawn over them."""
    fig = _figure(figsize=(7.0, 5.2), layout="constrained")
    ax = fig.subplots()
    (x0, x1), (y0, y1) = surface.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, 241), np.linspace(y0, y1, 241))
    zs = surface.values(xs, ys)
    # quantile levels: dense where the surface is low, whatever its range (Rosenbrock's is huge)
    levels = np.unique(np.quantile(zs, np.linspace(0.0, 1.0, 31) ** 2))
    cs = ax.contourf(xs, ys, zs, levels=levels, cmap="viridis", alpha=0.85)
    fig.colorbar(cs, ax=ax, label="loss")
    for label, p in paths.items():
        (line,) = ax.plot(p[:, 0], p[:, 1], lw=1.3, label=label)
        ax.plot(p[-1, 0], p[-1, 1], "o", color=line.get_color(), ms=5)
    if paths:
        ax.plot(*next(iter(paths.values()))[0], "ks", ms=6, label="start")
    mx, my = zip(*surface.minima)
    ax.plot(mx, my, "w*", ms=12, mec="k", label="minima")
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y", title=title)
    ax.legend(fontsize=7, loc="upper right")
    _save(fig, path)
