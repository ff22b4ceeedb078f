"""The training loop: step, evaluate at the unperturbed weights, log, checkpoint, resume.

::

    from minimsam import data, nn, train
    ds = data.load("mnist1d")
    model = nn.MLP([40, 256, 256, 10])
    opt = train.make_optimizer("msam", schedule="cosine", total_steps=30 * 32)
    result = train.fit(model, model.init(seed=0), opt, ds, epochs=30, out_dir="runs/msam")
    result.summary["final"]["test_acc"]

One epoch of :func:`fit`, for ``epoch = 0, 1, ...`` (logged as ``epoch + 1``):

1. the batches of :func:`minimsam.data.epoch_batches` for ``(seed, epoch)`` (so a resumed
   run sees the same batches), one ``optimizer.step`` each, on the training objective
   ``cross_entropy(model(w, x), y, label_smoothing)``. Learning rate and rho follow the
   optimizer's own schedules (they are functions of its step count), so fit just steps;
2. one host sync: the step losses come back together, and a non-finite one stops
   training with :class:`TrainingDiverged` naming the epoch and step;
3. evaluation at ``optimizer.eval_params(params, state)`` (for MSAM the unperturbed
   weights), under ``ms.no_grad()``, on the full training and test splits in batches of
   ``eval_batch_size``, with plain cross-entropy (no label smoothing); a model with batch
   norm is evaluated in evaluation mode (see "Models with batch norm" below);
4. the checkpoint is replaced atomically, then the log (one more line), also atomically.

The epoch record (one line of ``log.jsonl``)::

    epoch       epochs completed (1, 2, ...)          steps      optimizer steps so far
    opt_loss    mean over the epoch of info.loss: the loss the optimizer saw. For MSAM
                that is the loss at the PERTURBED point w - rho v/||v||; for SAM the
                first-pass loss at w; for SGD/NAG/AdamW the loss at the point where the
                gradient was taken. Includes label smoothing. Weights change during the
                epoch, so it differs from train_loss.
    train_loss, train_acc, test_loss, test_acc   at the unperturbed weights, epoch end
    time        seconds of the epoch's steps (with the sync that ends them)
    eval_time   seconds of the evaluation (and of the re-estimation of batch-norm statistics)
    grad_evals  grad_fn calls in the epoch (steps, or 2 * steps for SAM)
    lr, rho     the values the optimizer used at the epoch's last step (where it has them)

Models with batch norm (``model.has_stats``; see :mod:`minimsam.nn.models`). The
running statistics are explicit state next to params and optimizer state: each step's
``grad_fn`` is a :class:`minimsam.nn.GradFnWithStats`, which runs the model in training
mode and keeps the statistics of the step's FIRST forward pass (SAM: at ``w_t``, its
second pass is not tracked; MSAM: at the perturbed point, as in the paper's code; see
:mod:`minimsam.nn.running_stats`). Evaluation runs in evaluation mode with those
statistics or, with ``reestimate_batches=N``, with statistics re-estimated at the
evaluated weights by ``N`` forward-only passes over that epoch's training batches
(:func:`minimsam.nn.reestimate_stats`). The re-estimated statistics are used for that
evaluation only (``FitResult.eval_stats``); training continues with its own, so the
option does not change the trajectory. The statistics are saved in the checkpoint.

Files in ``out_dir``: ``log.jsonl``, ``summary.json`` (written when fit returns),
``checkpoint.npz`` (see :func:`save_checkpoint`) and, while fit runs, ``run.lock``
(:mod:`minimsam.rundir`). Every file is written through :mod:`minimsam.atomic`.

The run's settings live in one :class:`RunConfig` (fit's keywords build it); its
:meth:`RunConfig.signature` (model, optimizer class and hyperparameters, schedule values,
data hashes, dtype, batch size, seed, label smoothing) is stored in the checkpoint and
is what a resumed run must match, field by field.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import nn, optim, rundir, serialization
from minimsam.atomic import write_text
from minimsam.data import epoch_batches, iterate_batches, num_batches
from minimsam.serialization import FileFormatError

__all__ = [
    "CHECKPOINT",
    "DEFAULTS",
    "LOG",
    "OPTIMIZERS",
    "SCHEDULES",
    "SUMMARY",
    "Checkpoint",
    "FitResult",
    "RunConfig",
    "TrainingDiverged",
    "evaluate",
    "fit",
    "load_checkpoint",
    "make_optimizer",
    "save_checkpoint",
]

LOG, SUMMARY, CHECKPOINT = "log.jsonl", "summary.json", "checkpoint.npz"

_log = logging.getLogger(__name__)


class TrainingDiverged(FloatingPointError):
    """A training loss (or an evaluation at the end of an epoch) was not finite."""


# ----------------------------------------------------------------------------- optimizers

OPTIMIZERS: dict[str, type] = optim.BY_NAME

#: Defaults for MNIST-1D with an MLP 40-256-256-10 and a cosine schedule over 30 epochs,
#: coarsely tuned as in the paper: the learning rate for SGD first (0.05, 0.1,
#: 0.2, 0.3, 0.5; 0.2 is the largest clearly stable value), then rho per method at that lr
#: (SAM 0.05-0.2, MSAM 1-3). MSAM tolerates radii about ten times SAM's: SAM's validation
#: accuracy collapses at rho 0.5 (lr 0.3, experiments/RESULTS.md), MSAM's test accuracy at
#: rho 5 (experiments/results/rho_sweep.md); in the paper, too, MSAM's optimum exceeds
#: SAM's. Neither sweep shows MSAM's *best* radius to be ten times SAM's. AdamW: lr from
#: 1e-3, 3e-3, 1e-2.
DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"lr": 0.2, "momentum": 0.9, "weight_decay": 0.0},
    "nag": {"lr": 0.2, "momentum": 0.9, "weight_decay": 0.0},
    "sam": {"lr": 0.2, "momentum": 0.9, "rho": 0.2, "weight_decay": 0.0},
    "msam": {"lr": 0.2, "momentum": 0.9, "rho": 2.0, "weight_decay": 0.0},
    "adamw": {"lr": 3e-3, "weight_decay": 1e-2},
    "adamw-msam": {"lr": 3e-3, "rho": 2.0, "weight_decay": 1e-2},
}

SCHEDULES = ("constant", "cosine", "warmup-cosine")


def make_optimizer(
    name: str,
    lr: float | None = None,
    momentum: float | None = None,
    rho: float | None = None,
    weight_decay: float | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
    total_steps: int | None = None,
    check_finite: bool = False,
) -> optim.Optimizer:
    """The optimizer called ``name`` (a key of ``OPTIMIZERS``) with a learning-rate schedule.

    A hyperparameter left ``None`` takes its value from ``DEFAULTS[name]``; giving one
    the optimizer does not have (``rho`` for SGD, ``momentum`` for AdamW) is a
    ``ValueError``. ``schedule`` shapes the learning rate (rho stays constant):

    - ``"constant"``: ``lr`` at every step;
    - ``"cosine"``: ``lr * (1 + cos(pi t / T)) / 2`` with ``T = total_steps``;
    - ``"warmup-cosine"``: linear warm-up over ``warmup_steps``, then the cosine.

    ``check_finite=False`` by default because :func:`fit` checks the losses once per
    epoch, which keeps the step loop free of host syncs.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")
    hyper = dict(DEFAULTS[name])
    given = {"lr": lr, "momentum": momentum, "rho": rho, "weight_decay": weight_decay}
    for key, value in given.items():
        if value is None:
            continue
        if key not in hyper:
            raise ValueError(f"optimizer {name!r} has no {key}; it takes {', '.join(hyper)}")
        hyper[key] = value
    hyper["lr"] = lr_schedule(hyper["lr"], schedule, warmup_steps, total_steps)
    return OPTIMIZERS[name](**hyper, check_finite=check_finite)


def lr_schedule(
    lr: float, schedule: str, warmup_steps: int = 0, total_steps: int | None = None
) -> Any:
    """``lr`` as a number (``"constant"``) or a schedule from :mod:`minimsam.optim.schedules`."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    if warmup_steps and schedule != "warmup-cosine":
        raise ValueError(f"warm-up needs schedule='warmup-cosine', got {schedule!r}")
    if schedule == "constant":
        return lr
    if total_steps is None:
        raise ValueError(f"schedule {schedule!r} needs total_steps")
    if isinstance(lr, (int, float)) and (not math.isfinite(lr) or lr < 0):
        raise ValueError(f"lr must be finite and >= 0 (allowed range [0, inf)), got {lr}")
    if schedule == "cosine":
        return optim.schedules.cosine(lr, total_steps)
    return optim.schedules.warmup_cosine(lr, warmup_steps, total_steps)


# ----------------------------------------------------------------------------- evaluation


def evaluate(
    model: Callable, params: Mapping[str, Any], x: Any, y: Any, batch_size: int = 1000
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model(params, .)`` on ``(x, y)``, as host floats.

    For a model with batch norm pass ``model.eval_with(stats)`` (evaluation mode).

    ``x``, ``y``: host arrays (a dataset split); they go to the device batch by batch.
    Runs under ``ms.no_grad()``; sums stay on the device until one sync at the end::

        loss = (1/N) sum_i -log softmax(model(w, x_i))[y_i],
        acc  = (1/N) #{i : argmax model(w, x_i) = y_i}
    """
    n = len(y)
    if n == 0:
        raise ValueError("evaluate needs at least one sample")
    loss_sum = correct = 0.0
    with ms.no_grad():
        for xb, yb in iterate_batches(x, y, batch_size, shuffle=False):
            logits = model(params, xb)
            loss = nn.cross_entropy(logits, yb)
            loss_sum = loss_sum + loss.astype("float64") * len(yb)
            correct = correct + (logits.argmax(axis=1) == yb).sum()
    loss_sum, correct = ms.to_numpy((loss_sum, correct))
    return float(loss_sum) / n, float(correct) / n


# ----------------------------------------------------------------------------- checkpoints


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns: arrays on the active backend plus metadata.

    params, state: as the optimizer holds them (MSAM with ``store_perturbed`` holds the
        perturbed point); epoch: epochs completed; meta: ``{"seed", "run", "config",
        "history", ...}`` as saved.
    """

    params: dict[str, Any]
    state: dict[str, Any]
    epoch: int
    meta: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | Path, params, state, epoch: int, meta: Mapping,
                    stats: Mapping[str, Any] | None = None) -> None:  # fmt: skip
    """Write ``params``, the optimizer ``state``, ``epoch`` and ``meta`` to one ``.npz``.

    Layout: ``params/<name>``; the state flattened as by ``optim.save_state``
    (:mod:`minimsam.serialization`) under ``state/``; ``epoch``; ``meta``, a JSON string;
    the batch-norm running statistics, if any, under ``stats/<name>``.
    The file appears atomically: a crash or a full disk while writing leaves the
    previous checkpoint intact. Host copies are written; device arrays are not moved.
    """
    flat: dict[str, np.ndarray] = {f"params/{k}": ms.to_numpy(v) for k, v in params.items()}
    flat.update({f"stats/{k}": ms.to_numpy(v) for k, v in (stats or {}).items()})
    flat.update(serialization.flatten_state(state, prefix="state/"))
    flat["epoch"] = np.asarray(epoch, dtype=np.int64)
    flat["meta"] = np.asarray(json.dumps(dict(meta)))
    serialization.save_npz(path, flat)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a :func:`save_checkpoint` file; arrays go to the active backend.

    0-d integer state entries (the step count) come back as Python ints, so the
    optimizer's schedules continue where they stopped. A file that is not a complete
    checkpoint raises :class:`minimsam.serialization.FileFormatError` naming it.
    """
    arrays = serialization.load_npz(path, "checkpoint")
    what = f"checkpoint {path}"
    missing = [k for k in ("epoch", "meta") if k not in arrays]
    if missing:
        raise FileFormatError(
            f"{what} is not a minimsam checkpoint: no {' or '.join(map(repr, missing))} entry "
            f"(it holds {', '.join(sorted(arrays)[:5]) or 'nothing'})"
        )
    try:
        epoch, meta = int(arrays.pop("epoch")), json.loads(str(arrays.pop("meta")))
    except (TypeError, ValueError) as err:
        raise FileFormatError(f"{what} has an unreadable epoch or meta entry ({err})") from err
    if not isinstance(meta, dict) or not isinstance(meta.get("history"), list):
        raise FileFormatError(f"{what} is not a minimsam checkpoint: its meta has no history")
    groups: dict[str, dict[str, np.ndarray]] = {"params": {}, "state": {}, "stats": {}}
    for key, x in arrays.items():
        group, _, rest = key.partition("/")
        groups.setdefault(group, {})[rest] = x
    params = {k: ms.asarray(x) for k, x in groups["params"].items()}
    state = serialization.unflatten_state(groups["state"])
    if not params or "step" not in state:
        raise FileFormatError(f"{what} is not a minimsam checkpoint: no params or no step count")
    stats = {k: ms.asarray(x) for k, x in groups["stats"].items()}
    if isinstance(meta.get("run"), dict):  # written by fit: it records some things twice
        _check_consistent(what, epoch, meta, params, state["step"])
    return Checkpoint(params, state, epoch, meta, stats)


def _params_dtype(params: Mapping[str, Any]) -> str:
    """The dtype entry of :meth:`RunConfig.signature`: the params' dtypes, sorted, joined."""
    return ",".join(sorted({str(getattr(v, "dtype", type(v).__name__)) for v in params.values()}))


def _check_consistent(what: str, epoch: int, meta: Mapping, params: Mapping, step: Any) -> None:
    """Refuse a checkpoint of :func:`fit` whose duplicated records disagree (a hand-edited
    or mixed-up file would resume a different run than the one it records).

    Checked: the epoch count against the history's length and numbering, the optimizer's
    step count against the steps the last epoch record logged, the params' dtypes against
    the run's recorded dtype, and the seed against the run's recorded seed."""
    history, run = meta["history"], meta["run"]
    found = []
    numbers = [r.get("epoch") if isinstance(r, dict) else None for r in history]
    if numbers != list(range(1, len(history) + 1)) or epoch != len(history):
        found.append(f"epoch {epoch}, but its history holds epochs {numbers}")
    logged = history[-1].get("steps") if history and isinstance(history[-1], dict) else 0
    if step != logged:
        found.append(f"the optimizer state is at step {step}, but the history logged {logged}")
    if "dtype" in run and _params_dtype(params) != run["dtype"]:
        found.append(f"the params are {_params_dtype(params)}, but the run was {run['dtype']}")
    if "seed" in run and "seed" in meta and meta["seed"] != run["seed"]:
        found.append(f"seed {meta['seed']}, but the run records seed {run['seed']}")
    if found:
        raise FileFormatError(
            f"{what} contradicts itself: {'; '.join(found)} (edited by hand or mixed up? "
            "resume from an unedited checkpoint, or start afresh with overwrite=True)"
        )


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class RunConfig:
    """The settings of one run of :func:`fit` (its keyword arguments of the same names).

    Attributes:
        epochs: epochs to train in total (a resumed run continues up to this number).
        batch_size: training batch size.
        seed: the batch order of epoch ``e`` is drawn from ``(seed, e)``.
        label_smoothing: of the training objective (``nn.cross_entropy``).
        drop_last: drop the last, smaller batch of each epoch.
        eval_batch_size: batch size of the end-of-epoch evaluation.
        eval_train: also evaluate on the training split (False: train_loss and
            train_acc are None).
        reestimate_batches: for a model with batch norm, re-estimate the running
            statistics at the evaluated weights with this many forward-only training
            batches before each evaluation (0: evaluate with the training statistics;
            module docstring).

    :meth:`signature` adds the model, optimizer, data and dtype: that is what a resumed
    run must share with the checkpoint it continues (everything but ``epochs`` and the
    evaluation settings, which do not change the trajectory).
    """

    epochs: int
    batch_size: int = 128
    seed: int = 0
    label_smoothing: float = 0.0
    drop_last: bool = False
    eval_batch_size: int = 1000
    eval_train: bool = True
    reestimate_batches: int = 0

    def __post_init__(self) -> None:
        checked = (("epochs", 0), ("batch_size", 1), ("seed", 0), ("eval_batch_size", 1),
                   ("reestimate_batches", 0))  # fmt: skip
        for name, low in checked:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

    def signature(self, model, optimizer, data, params, schedule_steps: int) -> dict[str, Any]:
        """What defines the run's trajectory, by content (JSON-able, compared on resume).

        Schedules are compared by their values at steps ``0 .. schedule_steps - 1``.
        """
        return {
            "model": repr(model),
            "optimizer": optimizer_spec(optimizer, schedule_steps),
            "dtype": _params_dtype(params),
            "data": data_fingerprint(data),
            "batch_size": int(self.batch_size),
            "seed": int(self.seed),
            "label_smoothing": float(self.label_smoothing),
            "drop_last": bool(self.drop_last),
            "schedule_steps": int(schedule_steps),
        }


def optimizer_spec(optimizer: optim.Optimizer, steps: int) -> dict[str, Any]:
    """The optimizer by content: its class and every hyperparameter.

    A schedule (a callable ``t -> value``) is described by the SHA-256 of its values at
    ``t = 0 .. steps - 1`` (float64 bytes), so two schedules given as plain functions are
    equal exactly when they give the same values. ``check_finite`` is left out: it does
    not change the trajectory.
    """
    spec: dict[str, Any] = {"class": type(optimizer).__name__}
    for name, value in vars(optimizer).items():
        if name == "check_finite" or name.startswith("_"):
            continue
        if callable(value):
            values = np.array([float(value(t)) for t in range(steps)], dtype=np.float64)
            description = repr(value) if " at 0x" not in repr(value) else "a function"
            spec[name] = {"schedule": description, "values_sha256": _sha256(values)}
        else:
            spec[name] = json.loads(json.dumps(value, default=repr))
    return spec


def data_fingerprint(data: Any) -> dict[str, Any]:
    """The dataset by content: name plus dtype, shape and SHA-256 of each of its 4 arrays,
    and ``source``, where :func:`minimsam.data.load` read it (recorded, not compared: the
    same data moved to another folder resumes)."""
    found = {"name": getattr(data, "name", None), "source": getattr(data, "source", None)}
    for key in ("x_train", "y_train", "x_test", "y_test"):
        x = np.asarray(getattr(data, key))
        found[key] = f"{x.dtype}{list(x.shape)} sha256:{_sha256(x)}"
    return found


def _sha256(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x).view(np.uint8).reshape(-1)).hexdigest()[:32]


def _flat_items(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flat_items(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


#: Signature entries that describe but do not decide (the comparison uses the values).
_NOT_COMPARED = ("schedule_steps", ".schedule", "data.source")


def _check_same_run(saved: Mapping, current: Mapping, path: Path) -> None:
    """Raise ``ValueError`` naming every field where ``current`` differs from ``saved``."""
    a, b = _flat_items(saved), _flat_items(current)
    differing = []
    for key in sorted(set(a) | set(b), key=lambda k: (k != "dtype", k)):
        if key.endswith(_NOT_COMPARED) or a.get(key) == b.get(key):
            continue
        if key.endswith(".values_sha256"):  # say which schedules, not which hashes
            name = key.removesuffix(".values_sha256")
            differing.append(f"{name}: schedule values differ (checkpoint "
                             f"{a.get(name + '.schedule', a.get(name))}, now "
                             f"{b.get(name + '.schedule', b.get(name))})")  # fmt: skip
        else:
            differing.append(f"{key}: checkpoint {a.get(key)!r}, now {b.get(key)!r}")
    if differing:
        raise ValueError(
            f"cannot resume from {path}: it was written by a different run ("
            + "; ".join(differing)
            + ")"
        )


# ----------------------------------------------------------------------------- fit


@dataclass
class FitResult:
    """What :func:`fit` returns.

    params, state: the optimizer's final params and state (continue training with them);
    eval_params: ``optimizer.eval_params(params, state)``, the weights to use;
    history: the epoch records (module docstring); summary: as in ``summary.json``;
    stats: the running statistics of training (``{}`` without batch norm; continue
    training with them); eval_stats: those the last evaluation used (re-estimated with
    ``reestimate_batches``, else ``stats``): use them with ``eval_params``.
    """

    params: dict[str, Any]
    state: dict[str, Any]
    eval_params: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    eval_stats: dict[str, Any] = field(default_factory=dict)


def fit(
    model: Callable,
    params: dict[str, Any],
    optimizer: optim.Optimizer,
    data: Any,
    epochs: int | None = None,
    *,
    run: RunConfig | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    callbacks: Iterable[Callable[[dict, dict, dict], Any]] = (),
    step_callbacks: Iterable[Callable[[int, dict, dict, Callable], Any]] = (),
    config: Mapping[str, Any] | None = None,
    stats: Mapping[str, Any] | None = None,
    **settings: Any,
) -> FitResult:
    """Train ``model`` from ``params`` with ``optimizer`` on ``data`` for ``epochs`` epochs.

    Args:
        data: a :class:`~minimsam.data.Dataset` (``x_train``, ``y_train``, ``x_test``, ``y_test``).
        run / settings: a :class:`RunConfig`, or its fields as keywords (``batch_size=128,
            seed=0, label_smoothing=0.0, drop_last=False, eval_batch_size=1000,
            eval_train=True``) with ``epochs``; the caller seeds the initial ``params``.
        out_dir: where ``log.jsonl``, ``summary.json`` and ``checkpoint.npz`` go (None: nowhere).
            The folder is locked while fit writes there (:mod:`minimsam.rundir`); a folder
            that holds a run already needs ``resume=True`` or ``overwrite=True``.
        resume: continue from ``out_dir/checkpoint.npz`` if it exists (else start afresh),
            bitwise identical to an uninterrupted run; ``params`` is then replaced by the
            checkpoint's. The checkpoint must come from the same run: the
            :meth:`RunConfig.signature` (model, optimizer class, hyperparameters and schedule
            values, batch size, seed, label smoothing, data content, dtype) must match.
            Logged (``logging``, ``minimsam.train``): "resuming from epoch N" or "no
            checkpoint in DIR: starting fresh".
        overwrite: replace a run already in ``out_dir`` (its files are deleted first).
        progress: a tqdm bar over steps; None shows it when stderr is a terminal.
        callbacks: ``callback(record, params, state)`` after each epoch, in order.
        step_callbacks: ``callback(t, w, state, batch_loss)`` BEFORE each optimizer step
            ``t``: ``w`` the unperturbed weights (``optimizer.eval_params``), ``state`` the
            optimizer state holding ``v_t``, and ``batch_loss(w) -> scalar`` the training loss
            on the batch step ``t`` is about to use. This is where per-step probes go, e.g.
            :class:`minimsam.sharpness.CurvatureProbe` or the cosine between ``v_t`` and the
            next batch gradient. Probes that sync with the host slow a GPU run down.
        config: extra description of the run (e.g. the command line) for the summary.
        stats: the initial running statistics of a model with batch norm (default
            ``model.init_stats()`` in the params' dtype; module docstring).

    Raises :class:`TrainingDiverged` on a non-finite loss; the last checkpoint written
    (the last completed epoch) is left as it was.
    """
    run = _run_config(run, epochs, settings)
    stats = _initial_stats(model, params, stats, run)
    steps_per_epoch = num_batches(len(data.y_train), run.batch_size, run.drop_last)
    if steps_per_epoch == 0:
        raise ValueError(f"no full batch of {run.batch_size} in {len(data.y_train)} samples")
    signature = run.signature(model, optimizer, data, params, run.epochs * steps_per_epoch)
    if out_dir is None:
        if resume:
            raise ValueError("resume=True needs an out_dir holding the checkpoint")
        return _Training(model, optimizer, data, run, signature, None, config).loop(
            params, optimizer.init(params), stats, [], progress, callbacks, step_callbacks
        )
    with rundir.lock(out_dir) as out:
        rundir.check_reuse(out, resume, overwrite)
        state, history = optimizer.init(params), []
        if resume and (out / CHECKPOINT).is_file():
            ckpt = load_checkpoint(out / CHECKPOINT)
            saved = ckpt.meta.get("run", {})
            steps = saved.get("schedule_steps", signature["schedule_steps"])
            if isinstance(steps, int) and steps != signature["schedule_steps"]:
                current = run.signature(model, optimizer, data, params, steps)
            else:
                current = signature
            _check_same_run(saved, current, out / CHECKPOINT)
            serialization.check_state_for(optimizer, ckpt.state, f"checkpoint {out / CHECKPOINT}")
            params, state, history = ckpt.params, ckpt.state, ckpt.meta["history"]
            if stats.keys() != ckpt.stats.keys():
                raise ValueError(
                    f"cannot resume from {out / CHECKPOINT}: it holds running statistics "
                    f"{sorted(ckpt.stats) or 'none'}, the model needs {sorted(stats) or 'none'}"
                )
            stats = ckpt.stats
            _log.info("resuming from epoch %d (%s)", ckpt.epoch, out / CHECKPOINT)
        elif resume:
            _log.info("no checkpoint in %s: starting fresh", out)
        _write_log(out / LOG, history)
        training = _Training(model, optimizer, data, run, signature, out, config)
        return training.loop(params, state, stats, history, progress, callbacks, step_callbacks)


def _run_config(run: RunConfig | None, epochs: int | None, settings: Mapping) -> RunConfig:
    """``run``, or a :class:`RunConfig` of ``epochs`` and the keyword ``settings`` of fit."""
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(
            f"fit() got unexpected keyword argument(s) {', '.join(unknown)}; "
            f"the run settings are {', '.join(sorted(known - {'epochs'}))}"
        )
    if run is not None:
        if epochs is not None or settings:
            raise TypeError("fit() takes either run=RunConfig(...) or epochs and settings")
        return run
    if epochs is None:
        raise TypeError("fit() needs epochs (or run=RunConfig(epochs=...))")
    return RunConfig(epochs=epochs, **settings)


def _has_stats(model: Any) -> bool:
    return bool(getattr(model, "has_stats", False))


def _initial_stats(model: Any, params: Mapping, stats: Mapping | None, run: RunConfig) -> dict:
    """The running statistics fit starts from (``{}`` for a model without batch norm)."""
    if not _has_stats(model):
        if stats:
            raise ValueError("stats given, but the model has no batch norm (model.has_stats)")
        if run.reestimate_batches:
            raise ValueError("reestimate_batches needs a model with batch norm; use 0")
        return {}
    if stats is None:
        dtype = next(iter(params.values())).dtype
        return model.init_stats(dtype=dtype)
    return dict(stats)


def _objective(model: Callable, label_smoothing: float) -> Callable:
    """``(w, x, y) -> loss``: the training loss of a batch (a model without statistics)."""

    def loss(w, x, y):
        return nn.cross_entropy(model(w, x), y, label_smoothing=label_smoothing)

    return loss


def _grad_fn(model: Any, loss_fn: Callable, stats: dict, xb: Any, yb: Any, label_smoothing):
    """The ``grad_fn`` of one step: plain, or threading the running statistics."""
    if _has_stats(model):
        return nn.batch_grad_fn(model, stats, xb, yb, label_smoothing)
    return lambda w: loss_fn(w, xb, yb)


class _StepHooks:
    """Calls the ``step_callbacks`` of :func:`fit` before each step (nothing if none)."""

    def __init__(self, callbacks: list[Callable], optimizer: optim.Optimizer, model, run):
        self.callbacks, self.optimizer, self.model, self.run = callbacks, optimizer, model, run

    def __call__(self, params: dict, state: dict, stats: dict, xb: Any, yb: Any) -> None:
        if not self.callbacks:
            return
        w = self.optimizer.eval_params(params, state)
        smoothing = self.run.label_smoothing
        if _has_stats(self.model):

            def batch_loss(w):  # training mode; the statistics' update is discarded
                logits, _ = self.model.apply(w, xb, stats, train=True)
                return nn.cross_entropy(logits, yb, label_smoothing=smoothing)

        else:
            batch_loss = partial(_objective(self.model, smoothing), x=xb, y=yb)
        for callback in self.callbacks:
            callback(int(state["step"]), w, state, batch_loss)


@dataclass
class _Training:
    """One run of :func:`fit`: what stays fixed while the epochs go by."""

    model: Callable
    optimizer: optim.Optimizer
    data: Any
    run: RunConfig
    signature: dict[str, Any]
    out: Path | None
    config: Mapping[str, Any] | None

    def loop(self, params, state, stats, history, progress, callbacks,
             step_callbacks) -> FitResult:  # fmt: skip
        """Epochs ``len(history) .. epochs - 1``; then the summary."""
        run, start = self.run, len(history)
        steps_per_epoch = num_batches(len(self.data.y_train), run.batch_size, run.drop_last)
        objective = _objective(self.model, run.label_smoothing)
        hooks = _StepHooks(list(step_callbacks), self.optimizer, self.model, run)
        bar = _progress_bar(progress, run.epochs * steps_per_epoch, start * steps_per_epoch)
        eval_stats = stats
        try:
            for epoch in range(start, run.epochs):
                params, state, stats, record = self.train_epoch(objective, params, state, stats,
                                                                epoch, bar, hooks)  # fmt: skip
                evaluation, eval_stats = self.evaluate_epoch(params, state, stats, epoch)
                record.update(evaluation)
                history.append(record)
                self.save(params, state, stats, history)
                bar.set_postfix(test_acc=f"{record['test_acc']:.4f}", refresh=False)
                for callback in callbacks:
                    callback(record, params, state)
        finally:
            bar.close()
        summary = _summary(history, self.signature, self.config, steps_per_epoch)
        if self.out is not None:
            write_text(self.out / SUMMARY, json.dumps(summary, indent=2) + "\n")
        eval_params = self.optimizer.eval_params(params, state)
        return FitResult(params, state, eval_params, history, summary, stats, eval_stats)

    def save(self, params, state, stats, history) -> None:
        """Replace the checkpoint, then the log (each atomically)."""
        if self.out is None:
            return
        meta = {"seed": self.run.seed, "run": self.signature, "config": dict(self.config or {}),
                "history": history}  # fmt: skip
        save_checkpoint(self.out / CHECKPOINT, params, state, len(history), meta, stats)
        _write_log(self.out / LOG, history)

    def train_epoch(self, objective, params, state, stats, epoch, bar, hooks) -> tuple:
        """One epoch of steps; the losses stay on the device until the one sync at the end.

        Returns ``(params, state, stats, record)``."""
        optimizer, run = self.optimizer, self.run
        loss_fn = ms.value_and_grad(objective)
        start = time.perf_counter()
        losses, grad_evals = [], 0
        batches = epoch_batches(self.data, run.batch_size, seed=run.seed, epoch=epoch,
                                drop_last=run.drop_last)  # fmt: skip
        for step, (xb, yb) in enumerate(batches):
            hooks(params, state, stats, xb, yb)
            grad_fn = _grad_fn(self.model, loss_fn, stats, xb, yb, run.label_smoothing)
            try:
                with np.errstate(all="ignore"):  # the losses are checked: one line, no warning
                    params, state, info = optimizer.step(params, state, grad_fn)
            except FloatingPointError as err:  # the optimizer's own per-step check
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch + 1}, step {step} of the epoch: {err}"
                ) from err
            if stats:
                stats = grad_fn.new_stats  # from the step's first forward pass
            losses.append(info.loss)
            grad_evals += info.grad_evals
            bar.update(1)
        step_losses = ms.to_numpy(ms.get_backend().xp.stack(losses)).astype(np.float64)
        seconds = time.perf_counter() - start
        bad = np.flatnonzero(~np.isfinite(step_losses))
        if bad.size:
            t = int(state["step"]) - len(step_losses) + int(bad[0])
            raise TrainingDiverged(
                f"training diverged in epoch {epoch + 1}, step {int(bad[0])} of the epoch "
                f"(optimizer step {t}): the loss is {step_losses[bad[0]]}"
            )
        record = {
            "epoch": epoch + 1,
            "steps": int(state["step"]),
            "opt_loss": float(step_losses.mean()),
            "time": seconds,
            "grad_evals": grad_evals,
        }
        last = int(state["step"]) - 1
        for name in ("lr", "rho"):
            if hasattr(optimizer, name):
                record[name] = optimizer.hyper(name, last)
        return params, state, stats, record

    def eval_stats(self, params, state, stats, epoch) -> dict:
        """The running statistics to evaluate with: the training ones, or re-estimated at
        the evaluated weights over the first ``reestimate_batches`` batches of the epoch."""
        if not self.run.reestimate_batches:
            return stats
        run = self.run
        batches = epoch_batches(self.data, run.batch_size, seed=run.seed, epoch=epoch,
                                drop_last=run.drop_last)  # fmt: skip
        w = self.optimizer.eval_params(params, state)
        return nn.reestimate_stats(self.model, w, stats, batches, run.reestimate_batches)

    def evaluate_epoch(self, params, state, stats, epoch) -> tuple[dict, dict]:
        """Train and test loss and accuracy at the unperturbed weights, with their wall time
        (which includes the re-estimation of the statistics); and the statistics used."""
        start, data, size = time.perf_counter(), self.data, self.run.eval_batch_size
        w = self.optimizer.eval_params(params, state)
        stats = self.eval_stats(params, state, stats, epoch)
        model = self.model.eval_with(stats) if _has_stats(self.model) else self.model
        record: dict[str, Any] = {"train_loss": None, "train_acc": None}
        with np.errstate(all="ignore"):  # the losses are checked below: one line, no warning
            if self.run.eval_train:
                record["train_loss"], record["train_acc"] = evaluate(
                    model, w, data.x_train, data.y_train, size
                )
            record["test_loss"], record["test_acc"] = evaluate(model, w, data.x_test,
                                                               data.y_test, size)  # fmt: skip
        record["eval_time"] = time.perf_counter() - start
        for key in ("train_loss", "test_loss"):
            if record[key] is not None and not math.isfinite(record[key]):
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch + 1}: {key} at the end of the epoch "
                    f"is {record[key]}"
                )
        return record, stats


def _write_log(path: Path, history: list[dict]) -> None:
    """Write the log: one JSON line per epoch record (atomically, so never half a line)."""
    write_text(path, "".join(json.dumps(r) + "\n" for r in history))


def _summary(history: list[dict], run: dict, config, steps_per_epoch: int) -> dict[str, Any]:
    steps = history[-1]["steps"] if history else 0
    grad_evals = sum(r["grad_evals"] for r in history)
    train_time = sum(r["time"] for r in history)
    return {
        "config": dict(config or {}),
        "run": run,
        "epochs": len(history),
        "steps": steps,
        "steps_per_epoch": steps_per_epoch,
        "final": history[-1] if history else None,
        "best_test_acc": max((r["test_acc"] for r in history), default=None),
        "total_time": train_time + sum(r["eval_time"] for r in history),
        "train_time": train_time,
        "time_per_epoch": train_time / len(history) if history else None,
        "grad_evals": grad_evals,
        "grad_evals_per_step": grad_evals / steps if steps else None,
    }


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(progress: bool | None, total: int, initial: int) -> Any:
    """A tqdm bar over steps, or a stand-in that does nothing (disabled, or no tqdm)."""
    show = sys.stderr.isatty() if progress is None else bool(progress)
    if not show:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, initial=initial, unit="step", leave=False, dynamic_ncols=True)
