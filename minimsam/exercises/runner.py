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
cannot change the record. A step that writes into the gradient arrays ``grad_fn``
returned is graded all the same and told so (real gradients may be shared buffers).

``form="memory-free"`` (MSAM): the step holds the perturbed point, as in the paper's
Algorithm 1: it is given ``w~_t`` and returns ``w~_{t+1} = w_{t+1} - rho u_{t+1}``; the
record is the ``w_{t+1}`` it stands for, ``w~_{t+1} + rho v_{t+1} / (||v_{t+1}|| + EPS)``.
With one ``rho`` per call such a step cannot undo the previous step's ``rho``, so the
cases whose ``rho`` changes between steps are not graded in this form (:func:`graded_in`).

Every case runs under a time limit (:func:`within`): a step that does not return
is a failed case with a message naming the case and the limit, not a hung grader.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from minimsam.crosscheck import problems
from minimsam.crosscheck.case import Case, Recorder, Trajectory
from minimsam.crosscheck.compare import check_form
from minimsam.crosscheck.reference import shifted
from minimsam.exercises.catalogue import Exercise

__all__ = [
    "TIME_LIMIT",
    "NotImplementedYet",
    "graded_in",
    "run_step_function",
    "step_keywords",
    "within",
]

TIME_LIMIT = 60.0  # seconds per case: the golden cases take milliseconds with a sound step


class NotImplementedYet(Exception):
    """The step is still the stub: it returned None or raised NotImplementedError."""


class StepTimedOut(BaseException):
    """The step did not return within the case's time limit (a BaseException, so that a
    step's own ``except Exception`` cannot swallow it)."""


def graded_in(form: str, case: Case) -> bool:
    """Whether ``case`` is graded in ``form`` (memory-free: a constant rho only)."""
    check_form(form)
    return form == "standard" or case.rho is None or len(set(case.rho)) == 1


def within(seconds: float | None, fn: Callable[[], object]):
    """``fn()``, interrupted by :class:`StepTimedOut` after ``seconds`` (None: no limit).

    In the main thread an interval timer interrupts the step (Python code, or NumPy
    between calls). Elsewhere (a signal needs the main thread) the case runs in a
    daemon thread that is abandoned, still running, when the limit passes.
    """
    if seconds is None or not math.isfinite(seconds):
        return fn()
    main = threading.current_thread() is threading.main_thread()
    if not (main and hasattr(signal, "setitimer")):
        return _in_thread(seconds, fn)

    def expire(signum, frame):
        raise StepTimedOut

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _in_thread(seconds: float, fn: Callable[[], object]):
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise StepTimedOut
    if "error" in box:
        raise box["error"]
    return box["value"]


def step_keywords(exercise: Exercise, case: Case, t: int) -> dict[str, float]:
    """The keywords of step ``t``: the case's constants, ``lr[t]`` (and ``rho[t]``), ``t``."""
    values = {**case.constants(), **case.hyperparameters_at(t), "t": t}
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


class _RecordingGradFn:
    """``grad_fn(x) -> grads`` of step ``t``: records ``(x, loss, grads)`` and keeps what it
    handed out, to tell a step that writes into those arrays."""

    def __init__(self, case: Case, t: int, recorder: Recorder, like: dict):
        self.loss_and_grad = problems.grad_fn(case.model, case.batches, t)
        self.recorder, self.like, self.handed = recorder, like, []

    def __call__(self, x):
        point = _as_params(x, self.like, "the point passed to grad_fn")
        loss, grads = self.loss_and_grad(point)
        self.recorder.evaluation(point, loss, grads)
        out = {k: np.array(g, dtype=np.float64) for k, g in grads.items()}
        self.handed.append((out, {k: g.copy() for k, g in out.items()}))
        return out

    def written(self) -> str | None:
        """``"grads['k'] of call 1"`` if the step changed an array it was handed."""
        for call, (out, kept) in enumerate(self.handed, start=1):
            for k in out:
                if not np.array_equal(out[k], kept[k], equal_nan=True):
                    return f"grads[{k!r}] of grad_fn call {call}"
        return None


def _one_step(step: Callable, exercise: Exercise, w: dict, state: list, grad_fn, keywords):
    """``(w_next, [buffer_next, ...], changed)`` of one call, checked against the shapes of
    ``w``; ``changed`` names an input the step wrote into (None if none)."""
    name = getattr(step, "__name__", exercise.function)
    given = [_copy(w), *map(_copy, state)]
    try:
        out = step(*given, grad_fn, **keywords)
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
    names = ("w", *exercise.state)
    changed = [n for n, a, b in zip(names, given, [w, *state]) if not _same(a, b)]
    return w_next, state_next, (changed[0] if changed else None)


def _same(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k], equal_nan=True) for k in b)


def run_step_function(
    case: Case,
    exercise: Exercise,
    step: Callable,
    form: str = "standard",
    time_limit: float | None = TIME_LIMIT,
    notes: list[str] | None = None,
) -> tuple[Trajectory, str | None]:
    """Replay ``case`` with ``step``; ``(trajectory, error)``.

    If the step raises (or returns something malformed, or passes ``time_limit``
    seconds on this case), ``error`` is ``"Type: message"`` and the trajectory holds the
    steps completed before. :class:`NotImplementedYet` propagates: a stub is not
    graded. ``notes`` collects remarks that are no failure (an array it was given, written to).
    """
    graded_in(form, case)
    name = getattr(step, "__name__", exercise.function)
    w = _copy(case.init)
    state = [{k: np.zeros_like(x) for k, x in w.items()} for _ in exercise.state]
    recorder, t = Recorder(list(w)), 0

    def replay():
        nonlocal w, state, t
        for t in range(case.steps):
            if t == case.restore_before_step:
                w, state = _copy(w), [_copy(b) for b in state]  # the student's whole state
            recorder.start_step()
            grad_fn = _RecordingGradFn(case, t, recorder, w)
            keywords = step_keywords(exercise, case, t)
            w, state, changed = _one_step(step, exercise, w, state, grad_fn, keywords)
            written = grad_fn.written() or (changed and f"the {changed} it was given")
            if written is not None and notes is not None and not notes:
                where = f"(case {case.name}, step {t})"
                notes.append(f"{name} wrote into {written} {where}: in training code such "
                             "arrays are shared (a framework's gradients, the caller's "
                             "weights); compute new arrays")  # fmt: skip
            # memory-free: the weights w = w~ + rho v / (||v|| + EPS) its point stands for
            shown = shifted(w, state[0], case.rho[t]) if form == "memory-free" else w
            recorder.end_step(shown, buffers=dict(zip(exercise.state, state)))

    with np.errstate(all="ignore"):  # a missing EPS divides 0 by 0: the trajectory shows it
        try:
            within(time_limit, replay)
        except NotImplementedYet:
            raise
        except StepTimedOut:
            limit = f"{name} did not return within {time_limit:g} s on case {case.name} (step {t})"
            hint = "a step that loops forever, or a limit too short (--time-limit, or time_limit=)"
            return recorder.trajectory(), f"TimeoutError: {limit}; {hint}"
        except Exception as err:  # a broken step is a failed case, not a crash
            return recorder.trajectory(), f"{type(err).__name__}: {err}{_where(err)}"
    return recorder.trajectory(), None


_LIBRARY = (str(Path(np.__file__).parents[1]), str(Path(__file__).parents[1]), sys.prefix,
            "<frozen")  # fmt: skip


def _where(err: BaseException) -> str:
    """`` (at FILE:LINE, in FUNCTION)``: the innermost line of the student's own code that
    raised (not a line inside NumPy, the standard library or minimsam)."""
    frames = traceback.extract_tb(err.__traceback__)
    own = [f for f in frames if not f.filename.startswith(_LIBRARY)]
    if not own:
        return ""
    last = own[-1]
    return f" (at {last.filename}:{last.lineno}, in {last.name})"
