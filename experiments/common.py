"""What the experiments share: the MNIST-1D setting, optimizers, runs, statistics, output.

The setting is the one ``train.DEFAULTS`` was tuned for: MNIST-1D (4000 train / 1000
test signals of length 40), an MLP 40-256-256-10 with ReLU, batch 128, 30 epochs,
momentum 0.9, a cosine learning rate from 0.2 to 0 over all steps, no weight decay, no
label smoothing. Every accuracy is measured at the unperturbed weights (``fit``
evaluates at ``optimizer.eval_params``).

An experiment module provides three functions and calls :func:`main`::

    compute(quick: bool) -> dict          # runs everything; the JSON payload
    plot(payload) -> matplotlib Figure
    summarize(payload) -> str             # markdown: "## Title", "**Result.** ...", tables

and :func:`main` adds the measured run time and writes ``<name>.json``, ``.png``, ``.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from minimsam import data, nn, optim, train, viz
from minimsam.atomic import atomic_write, write_text

from .variants import PerturbedMomentum

RESULTS = Path(__file__).resolve().parent / "results"

SIZES = [40, 256, 256, 10]
BATCH = 128
EPOCHS = 30
LR = train.DEFAULTS["sgd"]["lr"]
MOMENTUM = 0.9

#: Display names and colours (viz.COLORS for the four optimizers).
LABELS = {"sgd": "SGD", "nag": "NAG", "sam": "SAM", "msam": "MSAM"}
COLORS = {
    **{k: viz.COLORS[v] for k, v in LABELS.items()},
    "unnormalized": viz.OKABE_ITO["reddish purple"],
    "lr-scaled": viz.OKABE_ITO["sky blue"],
}
VARIANTS = ("msam-signed", "unnormalized", "lr-scaled")


# ----------------------------------------------------------------------------- data


@functools.cache
def mnist1d() -> data.Dataset:
    """The default MNIST-1D dataset (generated locally by the ``mnist1d`` package)."""
    return data.load("mnist1d")


def shrink(ds: data.Dataset, n_train: int, n_test: int) -> data.Dataset:
    """The first ``n_train`` training and ``n_test`` test samples (for ``--quick`` runs)."""
    return dataclasses.replace(
        ds,
        x_train=ds.x_train[:n_train],
        y_train=ds.y_train[:n_train],
        x_test=ds.x_test[:n_test],
        y_test=ds.y_test[:n_test],
        y_train_clean=None,
        train_indices=None,
    )


def validation_split(ds: data.Dataset, fraction: float = 0.2, seed: int = 0) -> data.Dataset:
    """Hold out ``fraction`` of the TRAINING split (as its labels are, noise included).

    Returns a dataset whose "train" split is the rest and whose "test" split is the
    held-out part, so that hyperparameters can be chosen without the test set.
    """
    n = len(ds.y_train)
    order = np.random.default_rng([seed, 7]).permutation(n)
    n_held = int(round(fraction * n))
    held, kept = np.sort(order[:n_held]), np.sort(order[n_held:])
    return dataclasses.replace(
        ds,
        name=f"{ds.name}-validation",
        x_train=ds.x_train[kept],
        y_train=ds.y_train[kept],
        x_test=ds.x_train[held],
        y_test=ds.y_train[held],
        y_train_clean=None,
        train_indices=None,
    )


# ----------------------------------------------------------------------------- optimizers


def make_optimizer(
    kind: str,
    total_steps: int,
    lr: float = LR,
    rho: float | None = None,
    momentum: float = MOMENTUM,
    schedule: str = "cosine",
) -> optim.Optimizer:
    """``kind`` in sgd, nag, sam, msam (docs/optimizers.md) or a :data:`VARIANTS` entry.

    The variants are :class:`~experiments.variants.PerturbedMomentum`:
    ``"msam-signed"`` (MSAM allowing rho < 0), ``"unnormalized"``, ``"lr-scaled"``.
    """
    lr_value = train.lr_schedule(lr, schedule, total_steps=total_steps)
    if kind in VARIANTS:
        perturbation = "msam" if kind == "msam-signed" else kind
        return PerturbedMomentum(lr_value, momentum=momentum, rho=rho,
                                 perturbation=perturbation, check_finite=False)  # fmt: skip
    if kind in ("sam", "msam"):
        rho = train.DEFAULTS[kind]["rho"] if rho is None else rho
        return train.OPTIMIZERS[kind](lr_value, momentum=momentum, rho=rho, check_finite=False)
    return train.OPTIMIZERS[kind](lr_value, momentum=momentum, check_finite=False)


def steps_for(ds: data.Dataset, epochs: int, batch_size: int = BATCH) -> int:
    return epochs * data.num_batches(len(ds.y_train), batch_size)


def fit(
    ds: data.Dataset,
    optimizer: optim.Optimizer,
    seed: int,
    epochs: int,
    sizes: Sequence[int] = SIZES,
    batch_size: int = BATCH,
    step_callbacks: Iterable[Callable] = (),
    callbacks: Iterable[Callable] = (),
    eval_train: bool = True,
    label_smoothing: float = 0.0,
) -> train.FitResult:
    """Train a fresh ``nn.MLP(sizes)`` (initialised with ``seed``) with ``train.fit``."""
    model = nn.MLP(list(sizes))
    return train.fit(
        model,
        model.init(seed=seed),
        optimizer,
        ds,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=False,
        step_callbacks=step_callbacks,
        callbacks=callbacks,
        eval_train=eval_train,
        label_smoothing=label_smoothing,
    )


def final(result: train.FitResult) -> dict[str, Any]:
    """The last epoch's metrics and the run's cost."""
    last = result.history[-1]
    return {
        "train_acc": last["train_acc"],
        "train_loss": last["train_loss"],
        "test_acc": last["test_acc"],
        "test_loss": last["test_loss"],
        "opt_loss": last["opt_loss"],
        "time_per_epoch": result.summary["time_per_epoch"],
        "grad_evals": result.summary["grad_evals"],
    }


# ----------------------------------------------------------------------------- statistics


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value)."""
    x = np.asarray(list(values), dtype=float)
    return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0


def pm(values: Iterable[float], scale: float = 100.0, digits: int = 2) -> str:
    """``"mean ± std"`` of ``scale * values`` (accuracies in percent by default)."""
    m, s = mean_std(values)
    return f"{scale * m:.{digits}f} ± {scale * s:.{digits}f}"


def diff_se(a: Iterable[float], b: Iterable[float]) -> tuple[float, float]:
    """``mean(a) - mean(b)`` over independent runs and its Welch standard error
    ``sqrt(var(a)/n_a + var(b)/n_b)`` (NaN with fewer than two runs on a side)."""
    a, b = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    if min(len(a), len(b)) < 2:
        return float(a.mean() - b.mean()), float("nan")
    return float(a.mean() - b.mean()), float(
        np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    )


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_rho(rho: float) -> str:
    return f"{rho:g}"


# ----------------------------------------------------------------------------- figures


def figure(**kwargs: Any) -> Any:
    """A matplotlib ``Figure`` (no pyplot, so the caller's backend is left alone)."""
    from matplotlib.figure import Figure

    return Figure(**{"layout": "constrained", **kwargs})


# ----------------------------------------------------------------------------- output


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _finite(x: Any) -> Any:
    """Replace NaN/inf by None so the JSON is valid (strict parsers reject NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def machine() -> str:
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    return (
        f"{platform.machine()} CPU, {os.cpu_count()} cores, OPENBLAS_NUM_THREADS={threads}, "
        f"NumPy {np.__version__}"
    )


def parse_args(name: str, description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=description)
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (seconds)")
    parser.add_argument(
        "--render", action="store_true",
        help="redraw <name>.png and rewrite <name>.md from the existing <name>.json in --out "
        "(no training; the recorded run time is kept)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=None,
        help=f"output folder (default {RESULTS}; with --quick a new temporary folder, so a "
        "smoke run never overwrites the committed results)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix=f"minimsam-{name}-")) if args.quick else RESULTS
    return args


def main(
    name: str,
    description: str,
    compute: Callable[[bool], dict],
    plot: Callable[[dict], Any],
    summarize: Callable[[dict], str],
    argv: Sequence[str] | None = None,
) -> int:
    """Run ``compute``, then write ``<out>/<name>.json``, ``.png`` and ``.md``."""
    args = parse_args(name, description, argv)
    if args.render:
        with open(args.out / f"{name}.json") as f:
            payload = json.load(f)
        _write_figure_and_markdown(name, payload, plot, summarize, args.out, payload["run_time_s"])
        print(f"{name}: redrew {args.out / name}.{{png,md}} from {name}.json")
        return 0
    load_start = os.getloadavg()[0]
    start = time.perf_counter()
    payload = compute(args.quick)
    seconds = round(time.perf_counter() - start, 1)  # as stored, so --render writes the same
    load = (
        f"1-minute load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    command = f"python -m experiments.{name}" + (" --quick" if args.quick else "")
    payload = {
        "experiment": name,
        "quick": args.quick,
        "command": command,
        "run_time_s": seconds,
        "machine": machine(),
        "load": load,
        **payload,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / f"{name}.json", "w") as f:
        json.dump(_finite(payload), f, indent=1, default=_jsonable, allow_nan=False)
        f.write("\n")
    _write_figure_and_markdown(name, payload, plot, summarize, args.out, seconds)
    print(f"{name}: {seconds:.0f} s, wrote {args.out / name}.{{json,png,md}}")
    return 0


def _write_figure_and_markdown(name, payload, plot, summarize, out: Path, seconds: float) -> None:
    viz.save_figure(plot(payload), out / f"{name}.png")
    md = summarize(payload).rstrip() + "\n\n"
    md += f"![{name}]({name}.png)\n\n"
    md += (
        f"Run time: {seconds:.0f} s for `{payload['command']}` ({payload['machine']}; "
        f"{payload['load']}).\n"
    )
    write_text(out / f"{name}.md", md)
