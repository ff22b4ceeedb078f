"""Run a case through a reference optimizer of ``minimsam.optim`` (or a mutant of one).

The loop is the one every framework replays (FORMAT.md)::

    params = init
    for t in range(T):
        if t == restore_before_step: save the optimizer state, and restore it
        params, state = step t with lr[t], rho[t] on batch t
        record eval_params(params, state), the loss and every gradient evaluation
        (batch norm: and the running statistics after the step)
    (batch norm: evaluation-mode logits at the last eval_params, after re-estimation)

The per-step ``lr`` and ``rho`` lists become schedules ``t -> lr[t]`` of the step
count, so a restored state continues them where it stopped.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

import minimsam as ms
from minimsam import optim
from minimsam.crosscheck import problems
from minimsam.crosscheck.case import Case, Recorder, Trajectory

__all__ = ["RESTORE_MODES", "make_optimizer", "run_reference", "shifted"]

RESTORE_MODES = ("keep", "lose", "lose-perturbed", "lr-lost")
"""What happens to the state at ``restore_before_step``: ``keep`` (saved and loaded, the
reference), ``lose`` (a fresh optimizer from the unperturbed ``w``), ``lose-perturbed``
(a fresh optimizer from the perturbed point a memory-free optimizer was holding),
``lr-lost`` (saved and loaded, but the lr stays at ``lr[0]`` from then on)."""

# the state buffer a perturbation follows (along minus it), for "lose-perturbed"
_DIRECTION = {"msam": "momentum", "adamw-msam": "m"}


def make_optimizer(case: Case, cls: type | None = None, offset: int = 0) -> optim.Optimizer:
    """``cls`` (default: the reference) with the case's hyperparameters.

    ``lr`` and ``rho`` are the schedules ``t -> lr[t + offset]``: ``offset`` is the
    global step at which the optimizer's own step count is 0 (a fresh optimizer
    started mid-run). Finite checks are off, so a mutant may produce NaN.
    """
    cls = cls or optim.BY_NAME[case.optimizer]
    kwargs = case.constants()
    kwargs["lr"] = lambda t: case.lr[t + offset]
    if case.rho is not None:
        kwargs["rho"] = lambda t: case.rho[t + offset]
    return cls(**kwargs, check_finite=False)


def _save_and_load(state: dict) -> dict:
    """The state after a round trip through ``optim.save_state`` / ``optim.load_state``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.npz"
        optim.save_state(path, state)
        return optim.load_state(path)


def shifted(w: dict, b: dict, rho: float) -> dict:
    """``w + rho b / (||b|| + EPS)``, ``||b||`` over all of ``b`` (host arrays): from the
    weights to the perturbed point (``rho < 0``) a memory-free optimizer holds, and back."""
    norm = float(np.sqrt(sum(np.sum(x * x) for x in b.values())))
    return {k: w[k] + rho / (norm + optim.EPS) * b[k] for k in w}


def run_reference(
    case: Case,
    cls: type | None = None,
    restore: str = "keep",
    bn: str = "reference",
    reestimate: bool = True,
    record_buffers: bool = False,
) -> Trajectory:
    """The trajectory of ``cls`` (default: the reference optimizer) on ``case``.

    ``restore`` is one of :data:`RESTORE_MODES`. Batch-norm cases only: ``bn`` is one of
    :data:`~minimsam.crosscheck.problems.BN_MODES`, and ``reestimate=False`` skips the
    re-estimation before the evaluation. ``record_buffers``: also record the optimizer's
    params-shaped state buffers after every step. Runs on the ``numpy`` backend, float64.
    """
    if restore not in RESTORE_MODES:
        raise ValueError(f"restore must be one of {RESTORE_MODES}, got {restore!r}")
    stats = {k: np.array(v, dtype=np.float64) for k, v in case.init_stats.items()}
    with ms.use_backend("numpy"), np.errstate(all="ignore"):  # a mutant may divide 0 by 0
        opt = make_optimizer(case, cls)
        params = {k: np.array(v, dtype=np.float64) for k, v in case.init.items()}
        state = opt.init(params)
        recorder = Recorder(list(params))
        for t in range(case.steps):
            if t == case.restore_before_step:
                opt, params, state = _restore(case, cls, opt, params, state, t, restore)
            if case.has_stats:
                grad_fn = problems.StatsGradFn(case.model, case.batches, t, stats, bn)
            else:
                grad_fn = problems.grad_fn(case.model, case.batches, t)

            def recording_grad_fn(point, grad_fn=grad_fn):
                loss, grads = grad_fn(point)
                recorder.evaluation(point, loss, grads)
                return loss, grads

            recorder.start_step()
            params, state, _ = opt.step(params, state, recording_grad_fn)
            if case.has_stats:
                stats = grad_fn.new_stats
            kept = (
                {b: x for b, x in state.items() if isinstance(x, dict)} if record_buffers else None
            )
            recorder.end_step(opt.eval_params(params, state), kept, stats=stats)
        if case.has_stats:
            rounds = case.reestimate_batches if reestimate else 0
            w = opt.eval_params(params, state)
            logits = problems.evaluate(case.model, case.batches, w, stats, rounds)
            recorder.evaluation_logits(logits)
        return recorder.trajectory()


def _restore(case, cls, opt, params, state, t, mode):
    if mode == "keep":
        return opt, params, _save_and_load(state)
    if mode == "lr-lost":  # the restored optimizer no longer follows the lr schedule
        restored = make_optimizer(case, cls)
        restored.lr = case.lr[0]
        return restored, params, _save_and_load(state)
    start = opt.eval_params(params, state)
    if mode == "lose-perturbed":
        if case.optimizer not in _DIRECTION:
            raise ValueError(f"'lose-perturbed' needs a perturbed optimizer, not {case.optimizer}")
        start = shifted(start, state[_DIRECTION[case.optimizer]], -case.rho[t - 1])
    fresh = make_optimizer(case, cls, offset=t)
    return fresh, start, fresh.init(start)
