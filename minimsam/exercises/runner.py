"""Replay a golden case through a student's plain step function, as a crosscheck trajectory.

The loop is the one of :func:`minimsam.crosscheck.reference.run_reference`, with the
student's function in place of ``opt.step``::

    w, v = init, zeros
    for t in range(T):
        w, v = step(w, v, grad_fn_t, lr=lr[t], momentum=..., [rho=rho[t],] weight_decay=...)
        record w                       # and every point grad_fn_t was called at

(AdamW-MSAM: ``w, m, s = step(w, m, s, grad_fn_t, t=t, ...)``.) The student holds no
other state, so the case's save-and-restore is a copy of ``w`` and the buffers.
Each call gets fresh copies of ``w`` and ``v``: a step that changes its inputs in place
cannot change the record.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping

import numpy as np

from minimsam.crosscheck import problems
from minimsam.crosscheck.case import Case, Recorder, Trajectory
from minimsam.exercises.catalogue import Exercise

__all__ = ["NotImplementedYet", "run_step_function", "step_keywords"]


class NotImplementedYet(Exception):
    """The step is still the stub: it returned None or raised NotImplementedError."""


def step_keywords(exercise: Exercise, case: Case, t: int) -> dict[str, float]:
    """The keywords of step ``t``: the case's constants, ``lr[t]`` (and ``rho[t]``), ``t``."""
    values = {**case.hyperparameters, **case.hyperparameters_at(t), "t": t}
    if "betas" in values:
        values["betas"] = tuple(values["betas"])
    return {k: values[k] for k in exercise.hyperparameters}


def _copy(tree: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.array(x, dtype=np.float64) for k, x in tree.items()}


def _as_params(value, like: Mapping[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    """``value`` as a dict of float64 arrays with the keys and shapes of ``like``."""
    if not isinstance(value, Mapping) or set(value) != set(like):
        got = sorted(value) if isinstance(value, Mapping) else type(value).__name__
        raise ValueError(f"{what} must be a dict with the keys {sorted(like)}, got {got}")
    out = {}
    for k in like:
        x = np.asarray(value[k], dtype=np.float64)
        if x.shape != like[k].shape:
            raise ValueError(f"{what}[{k!r}] has shape {x.shape}, expected {like[k].shape}")
        out[k] = x
    return out


def _recording_grad_fn(case: Case, t: int, recorder: Recorder, like: dict) -> Callable:
    """``grad_fn(x) -> grads`` of step ``t`` that records ``(x, loss, grads)``."""
    loss_and_grad = problems.grad_fn(case.model, case.batches, t)

    def grad_fn(x):
        point = _as_params(x, like, "the point passed to grad_fn")
        loss, grads = loss_and_grad(point)
        recorder.evaluation(point, loss, grads)
        return {k: np.array(g, dtype=np.float64) for k, g in grads.items()}

    return grad_fn


def _one_step(step: Callable, exercise: Exercise, w: dict, state: list, grad_fn, keywords):
    """``(w_next, [buffer_next, ...])`` of one call, checked against the shapes of ``w``."""
    name = getattr(step, "__name__", exercise.function)
    try:
        out = step(_copy(w), *map(_copy, state), grad_fn, **keywords)
    except NotImplementedError as err:
        raise NotImplementedYet(f"{name} raised NotImplementedError {err}".strip()) from err
    if out is None:
        raise NotImplementedYet(f"{name} returned None")
    names = [f"{n}_next" for n in ("w", *exercise.state)]
    if not isinstance(out, (tuple, list)) or len(out) != len(names):
        kind = "a pair" if len(names) == 2 else f"{len(names)} values"
        raise ValueError(
            f"{name} must return {kind} ({', '.join(names)}), got {type(out).__name__}"
        )
    w_next, *state_next = (_as_params(x, w, n) for x, n in zip(out, names))
    return w_next, state_next


def run_step_function(
    case: Case, exercise: Exercise, step: Callable
) -> tuple[Trajectory, str | None]:
    """Replay ``case`` with ``step``; ``(trajectory, error)``.

    If the step raises (or returns something malformed), ``error`` is ``"Type: message"``
    and the trajectory holds the steps completed before. :class:`NotImplementedYet`
    propagates: a stub is not graded.
    """
    w = _copy(case.init)
    state = [{k: np.zeros_like(x) for k, x in w.items()} for _ in exercise.state]
    recorder = Recorder(list(w))
    with np.errstate(all="ignore"):  # a missing EPS divides 0 by 0: the trajectory shows it
        for t in range(case.steps):
            if t == case.restore_before_step:
                w, state = _copy(w), [_copy(b) for b in state]  # the student's whole state
            recorder.start_step()
            grad_fn = _recording_grad_fn(case, t, recorder, w)
            keywords = step_keywords(exercise, case, t)
            try:
                w, state = _one_step(step, exercise, w, state, grad_fn, keywords)
            except NotImplementedYet:
                raise
            except Exception as err:  # a broken step is a failed case, not a crash
                return recorder.trajectory(), f"{type(err).__name__}: {err}{_where(err)}"
            recorder.end_step(w)
    return recorder.trajectory(), None


def _where(err: BaseException) -> str:
    """`` (at FILE:LINE, in FUNCTION)``: the innermost line that raised, for the message."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {last.filename}:{last.lineno}, in {last.name})"
