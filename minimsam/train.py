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
   ``eval_batch_size``, with plain cross-entropy (no label smoothing);
4. the checkpoint is replaced atomically, then the epoch's line is appended to the log.

The epoch record (one line of ``log.jsonl``)::

    epoch       epochs completed (1, 2, ...)          steps      optimizer steps so far
    opt_loss    mean over the epoch of info.loss: the loss the optimizer saw. For MSAM
                that is the loss at the PERTURBED point w - rho v/||v||; for SAM the
                first-pass loss at w; for SGD/NAG/AdamW the loss at the point where the
                gradient was taken. Includes label smoothing. Weights change during the
                epoch, so it differs from train_loss.
    train_loss, train_acc, test_loss, test_acc   at the unperturbed weights, epoch end
    time        seconds of the epoch's steps (with the sync that ends them)
    eval_time   seconds of the evaluation
    grad_evals  grad_fn calls in the epoch (steps, or 2 * steps for SAM)
    lr, rho     the values the optimizer used at the epoch's last step (where it has them)

Files in ``out_dir``: ``log.jsonl``, ``summary.json`` (written when fit returns) and
``checkpoint.npz`` (see :func:`save_checkpoint`).
"""

from __future__ import annotations

import json
import math
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import nn, optim
from minimsam.data import epoch_batches, iterate_batches, num_batches
from minimsam.data.idx import atomic_open

__all__ = [
    "CHECKPOINT",
    "DEFAULTS",
    "LOG",
    "OPTIMIZERS",
    "SCHEDULES",
    "SUMMARY",
    "Checkpoint",
    "FitResult",
    "TrainingDiverged",
    "evaluate",
    "fit",
    "load_checkpoint",
    "make_optimizer",
    "save_checkpoint",
]

LOG, SUMMARY, CHECKPOINT = "log.jsonl", "summary.json", "checkpoint.npz"


class TrainingDiverged(FloatingPointError):
    """A training loss (or an evaluation at the end of an epoch) was not finite."""


# ----------------------------------------------------------------------------- optimizers

OPTIMIZERS: dict[str, type] = optim.BY_NAME

#: Defaults for MNIST-1D with an MLP 40-256-256-10 and a cosine schedule over 30 epochs,
#: coarsely tuned as in the paper: the learning rate for SGD first (0.05, 0.1,
#: 0.2, 0.3, 0.5; 0.2 is the largest clearly stable value), then rho per method at that lr
#: (SAM 0.05-0.2, MSAM 1-3). MSAM's best radius is ten times SAM's, as in the paper, where
#: MSAM's optimum exceeds SAM's for every model. AdamW: lr from 1e-3, 3e-3, 1e-2.
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


def save_checkpoint(path: str | Path, params, state, epoch: int, meta: Mapping) -> None:
    """Write ``params``, the optimizer ``state``, ``epoch`` and ``meta`` to one ``.npz``.

    Layout: ``params/<name>``; ``state/<key>`` for a state entry that is not a dict
    (the step count, MSAM's applied scale); ``state/<key>/<name>`` for a buffer; ``epoch``;
    ``meta``, a JSON string. The file appears atomically (temporary file, then
    ``os.replace``): a crash while writing leaves the previous checkpoint intact.
    Host copies are written; the arrays on the device are not moved.
    """
    flat: dict[str, np.ndarray] = {f"params/{k}": ms.to_numpy(v) for k, v in params.items()}
    for key, value in state.items():
        if "/" in key:
            raise ValueError(f"state key {key!r} must not contain '/'")
        if isinstance(value, Mapping):
            flat.update({f"state/{key}/{k}": ms.to_numpy(v) for k, v in value.items()})
        else:
            flat[f"state/{key}"] = np.asarray(ms.to_numpy(value))
    flat["epoch"] = np.asarray(epoch, dtype=np.int64)
    flat["meta"] = np.asarray(json.dumps(dict(meta)))
    path = Path(path)
    with atomic_open(path) as f:
        np.savez(f, **flat)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a :func:`save_checkpoint` file; arrays go to the active backend.

    0-d integer state entries (the step count) come back as Python ints, so the
    optimizer's schedules continue where they stopped.
    """
    params: dict[str, Any] = {}
    state: dict[str, Any] = {}
    with np.load(path, allow_pickle=False) as f:
        for key in f.files:
            group, _, rest = key.partition("/")
            x = f[key]
            if group == "params":
                params[rest] = ms.asarray(x)
            elif group == "state":
                buffer, sep, name = rest.partition("/")
                if sep:
                    state.setdefault(buffer, {})[name] = ms.asarray(x)
                elif x.ndim == 0 and np.issubdtype(x.dtype, np.integer):
                    state[buffer] = int(x)
                else:
                    state[buffer] = ms.asarray(x)
        epoch, meta = int(f["epoch"]), json.loads(str(f["meta"]))
    return Checkpoint(params, state, epoch, meta)


# ----------------------------------------------------------------------------- fit


@dataclass
class FitResult:
    """What :func:`fit` returns.

    params, state: the optimizer's final params and state (continue training with them);
    eval_params: ``optimizer.eval_params(params, state)``, the weights to use;
    history: the epoch records (module docstring); summary: as in ``summary.json``.
    """

    params: dict[str, Any]
    state: dict[str, Any]
    eval_params: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def fit(
    model: Callable,
    params: dict[str, Any],
    optimizer: optim.Optimizer,
    data: Any,
    epochs: int,
    batch_size: int = 128,
    seed: int = 0,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
    callbacks: Iterable[Callable[[dict, dict, dict], Any]] = (),
    step_callbacks: Iterable[Callable[[int, dict, dict, Callable], Any]] = (),
    label_smoothing: float = 0.0,
    eval_batch_size: int = 1000,
    drop_last: bool = False,
    eval_train: bool = True,
    config: Mapping[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` from ``params`` with ``optimizer`` on ``data`` for ``epochs`` epochs.

    Args:
        data: a :class:`~minimsam.data.Dataset` (``x_train``, ``y_train``, ``x_test``, ``y_test``).
        seed: the batch order of epoch ``e`` is drawn from ``(seed, e)``; the caller seeds
            the initial ``params`` (``model.init(seed)``).
        out_dir: where ``log.jsonl``, ``summary.json`` and ``checkpoint.npz`` go (None: nowhere).
        resume: continue from ``out_dir/checkpoint.npz`` if it exists (else start afresh),
            bitwise identical to an uninterrupted run; ``params`` is then replaced by the
            checkpoint's. The checkpoint must come from the same run: model, optimizer
            (hyperparameters and schedules), batch size, seed, label smoothing and data.
        progress: a tqdm bar over steps; None shows it when stderr is a terminal.
        callbacks: ``callback(record, params, state)`` after each epoch, in order.
        step_callbacks: ``callback(t, w, state, batch_loss)`` BEFORE each optimizer step
            ``t``: ``w`` the unperturbed weights (``optimizer.eval_params``), ``state`` the
            optimizer state holding ``v_t``, and ``batch_loss(w) -> scalar`` the training loss
            on the batch step ``t`` is about to use. This is where per-step probes go, e.g.
            :class:`minimsam.sharpness.CurvatureProbe` or the cosine between ``v_t`` and the
            next batch gradient. Probes that sync with the host slow a GPU run down.
        eval_train: evaluate on the full training split every epoch (else train_loss and
            train_acc are None).
        config: extra description of the run (e.g. the command line) for the summary.

    Raises :class:`TrainingDiverged` on a non-finite loss; the last checkpoint written
    (the last completed epoch) is left as it was.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    steps_per_epoch = num_batches(len(data.y_train), batch_size, drop_last)
    if steps_per_epoch == 0:
        raise ValueError(f"no full batch of {batch_size} in {len(data.y_train)} samples")
    run = _run_config(model, optimizer, data, batch_size, seed, label_smoothing, drop_last)
    out = Path(out_dir) if out_dir is not None else None
    state, history, start = optimizer.init(params), [], 0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if resume and (out / CHECKPOINT).is_file():
            ckpt = load_checkpoint(out / CHECKPOINT)
            _check_same_run(ckpt.meta.get("run", {}), run, out / CHECKPOINT)
            params, state, start = ckpt.params, ckpt.state, ckpt.epoch
            history = ckpt.meta["history"]
        _write_log(out / LOG, history)
    elif resume:
        raise ValueError("resume=True needs an out_dir holding the checkpoint")

    objective = _objective(model, label_smoothing)
    hooks = _StepHooks(list(step_callbacks), optimizer, objective)
    bar = _progress_bar(progress, epochs * steps_per_epoch, start * steps_per_epoch)
    try:
        for epoch in range(start, epochs):
            params, state, record = _train_epoch(
                objective, params, optimizer, state, data, batch_size, seed, epoch, drop_last,
                bar, hooks,
            )  # fmt: skip
            record.update(_evaluate_epoch(model, optimizer, params, state, data,
                                          eval_batch_size, eval_train, epoch))  # fmt: skip
            history.append(record)
            if out is not None:
                meta = {"seed": seed, "run": run, "config": dict(config or {}), "history": history}
                save_checkpoint(out / CHECKPOINT, params, state, epoch + 1, meta)
                with open(out / LOG, "a") as f:
                    f.write(json.dumps(record) + "\n")
            bar.set_postfix(test_acc=f"{record['test_acc']:.4f}", refresh=False)
            for callback in callbacks:
                callback(record, params, state)
    finally:
        bar.close()

    summary = _summary(history, run, config, steps_per_epoch)
    if out is not None:
        with atomic_open(out / SUMMARY) as f:
            f.write((json.dumps(summary, indent=2) + "\n").encode())
    eval_params = optimizer.eval_params(params, state)
    return FitResult(params, state, eval_params, history, summary)


def _objective(model: Callable, label_smoothing: float) -> Callable:
    """``(w, x, y) -> loss``: the training loss of a batch."""

    def loss(w, x, y):
        return nn.cross_entropy(model(w, x), y, label_smoothing=label_smoothing)

    return loss


class _StepHooks:
    """Calls the ``step_callbacks`` of :func:`fit` before each step (nothing if none)."""

    def __init__(self, callbacks: list[Callable], optimizer: optim.Optimizer, objective):
        self.callbacks, self.optimizer, self.objective = callbacks, optimizer, objective

    def __call__(self, params: dict, state: dict, xb: Any, yb: Any) -> None:
        if not self.callbacks:
            return
        w = self.optimizer.eval_params(params, state)
        batch_loss = partial(self.objective, x=xb, y=yb)
        for callback in self.callbacks:
            callback(int(state["step"]), w, state, batch_loss)


def _train_epoch(objective, params, optimizer, state, data, batch_size, seed, epoch, drop_last,
                 bar, hooks) -> tuple[dict, dict, dict]:  # fmt: skip
    """One epoch of steps; the losses stay on the device until the one sync at the end."""
    loss_fn = ms.value_and_grad(objective)
    start = time.perf_counter()
    losses, grad_evals = [], 0
    batches = epoch_batches(data, batch_size, seed=seed, epoch=epoch, drop_last=drop_last)
    for step, (xb, yb) in enumerate(batches):
        hooks(params, state, xb, yb)
        try:
            params, state, info = optimizer.step(
                params, state, lambda w, xb=xb, yb=yb: loss_fn(w, xb, yb)
            )
        except FloatingPointError as err:  # the optimizer's own per-step check
            raise TrainingDiverged(
                f"training diverged in epoch {epoch + 1}, step {step} of the epoch: {err}"
            ) from err
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
    return params, state, record


def _evaluate_epoch(model, optimizer, params, state, data, batch_size, eval_train, epoch) -> dict:
    """Train and test loss and accuracy at the unperturbed weights, with their wall time."""
    start = time.perf_counter()
    w = optimizer.eval_params(params, state)
    record: dict[str, Any] = {"train_loss": None, "train_acc": None}
    if eval_train:
        record["train_loss"], record["train_acc"] = evaluate(
            model, w, data.x_train, data.y_train, batch_size
        )
    record["test_loss"], record["test_acc"] = evaluate(model, w, data.x_test, data.y_test,
                                                       batch_size)  # fmt: skip
    record["eval_time"] = time.perf_counter() - start
    for key in ("train_loss", "test_loss"):
        if record[key] is not None and not math.isfinite(record[key]):
            raise TrainingDiverged(
                f"training diverged in epoch {epoch + 1}: {key} at the end of the epoch is "
                f"{record[key]}"
            )
    return record


def _run_config(model, optimizer, data, batch_size, seed, label_smoothing, drop_last) -> dict:
    """What defines a run's trajectory; a resumed run must match it (except ``epochs``)."""
    labels = np.ascontiguousarray(data.y_train)
    return {
        "model": repr(model),
        "optimizer": repr(optimizer),
        "batch_size": batch_size,
        "seed": seed,
        "label_smoothing": label_smoothing,
        "drop_last": drop_last,
        "data": {
            "name": getattr(data, "name", None),
            "train_shape": list(np.shape(data.x_train)),
            "test_shape": list(np.shape(data.x_test)),
            "train_labels_crc32": zlib.crc32(labels.tobytes()),
        },
    }


def _check_same_run(saved: Mapping, current: Mapping, path: Path) -> None:
    differing = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if key == "optimizer" and (" at 0x" in str(a) or " at 0x" in str(b)):
            continue  # a plain function as schedule: its repr holds an address, skip it
        if a != b:
            differing.append(f"{key}: checkpoint {a!r}, now {b!r}")
    if differing:
        raise ValueError(
            f"cannot resume from {path}: it was written by a different run ("
            + "; ".join(differing)
            + ")"
        )


def _write_log(path: Path, history: list[dict]) -> None:
    """Rewrite the log from the records a checkpoint holds (drops lines written after it)."""
    with atomic_open(path) as f:
        f.write("".join(json.dumps(r) + "\n" for r in history).encode())


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
