"""The optimizer interface shared by SGD, NAG, SAM, MSAM, AdamW and AdamWMSAM.

Parameters are a ``dict[str, array]`` treated as one flat vector: every norm is the
global L2 norm over all entries, ``||w|| = sqrt(sum_k sum(w[k]**2))``, and every
normalisation divides by ``||.|| + EPS`` with ``EPS = 1e-12``, so a zero vector gives
a zero direction, never NaN.

The interface (optax style: pure functions, explicit state)::

    opt = MSAM(lr=0.1, momentum=0.9, rho=0.3)
    state = opt.init(params)                  # {"step": 0, "momentum": {name: zeros}}
    params, state, info = opt.step(params, state, grad_fn, trace=False)
    w_eval = opt.eval_params(params, state)   # the unperturbed weights to evaluate

- ``grad_fn(point) -> (loss, grads)``: ``grads`` has the keys and shapes of ``params``.
  ``step`` calls it once (twice for SAM) and never modifies its inputs: it returns new
  dicts and leaves ``params`` and ``state`` as they were.
- ``state`` is plain data: ``{"step": int, <buffer name>: {param name: array}, ...}``,
  buffers on the same device as ``params``, keyed by parameter name (never ``id()``).
  :func:`save_state` / :func:`load_state` write and read it as ``.npz``.
- ``info`` is a :class:`StepInfo`: ``loss`` is what the *first* ``grad_fn`` call of the
  step returned (kept as returned: no host sync), ``grad_evals`` the number of calls.
  With ``trace=True``, ``info.points`` maps documented names (each optimizer's
  docstring lists them) to the params-like dicts of every intermediate point of the
  step; with ``trace=False`` it is ``None`` and nothing extra is kept.

Schedules. ``lr`` and ``rho`` accept either a number or a schedule, a callable
``t -> value`` of the step count ``t = state["step"]`` (0 on the first step), e.g.
``MSAM(lr=schedules.cosine(0.1, total_steps=1000), rho=0.3)``. This is the one way to
change them during training: the step count lives in the state, so a restored state
continues its schedule where it stopped, and the optimizer object stays immutable.
Numbers are validated when the optimizer is built, schedule values at each step.

Finite checks. With ``check_finite=True`` (the default) ``step`` raises
``FloatingPointError`` naming the step if a loss or gradient it received is not finite;
the caller's ``params`` and ``state`` are untouched, since steps are pure. The check
costs one device->host transfer of a single boolean per step; on a GPU, pass
``check_finite=False`` to the constructor to keep steps free of host syncs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from minimsam.backend import asarray, get_backend, to_numpy

__all__ = [
    "EPS",
    "Optimizer",
    "StepInfo",
    "add",
    "axpy",
    "global_norm",
    "load_state",
    "save_state",
    "scale",
    "tree_map",
    "zeros_like",
]

EPS = 1e-12

Params = dict[str, Any]
Schedule = Callable[[int], float]


# ----------------------------------------------------------------------------- tree helpers


def tree_map(fn: Callable[..., Any], tree: Mapping[str, Any], *rest: Mapping[str, Any]) -> Params:
    """``{k: fn(tree[k], rest[0][k], ...)}`` in the key order of ``tree``."""
    return {k: fn(x, *(r[k] for r in rest)) for k, x in tree.items()}


def zeros_like(tree: Mapping[str, Any]) -> Params:
    """A buffer of zeros with the keys, shapes, dtypes and device of ``tree``."""
    xp = get_backend().xp
    return tree_map(xp.zeros_like, tree)


def axpy(a: Any, x: Mapping[str, Any], y: Mapping[str, Any]) -> Params:
    """``a * x + y`` for each key; ``a`` is a number or a 0-d array on the device."""
    return tree_map(lambda xi, yi: _add_into(a * xi, yi), x, y)


def _add_into(fresh: Any, y: Any) -> Any:
    """``fresh + y``, reusing ``fresh`` (a temporary nobody else holds): one allocation
    per key instead of two, which matters for large parameter arrays."""
    if getattr(y, "dtype", fresh.dtype) != fresh.dtype:
        return fresh + y  # mixed dtypes: NumPy's promotion, never an in-place downcast
    fresh += y
    return fresh


def scale(a: Any, x: Mapping[str, Any]) -> Params:
    """``a * x`` for each key."""
    return tree_map(lambda xi: a * xi, x)


def add(x: Mapping[str, Any], y: Mapping[str, Any]) -> Params:
    """``x + y`` for each key."""
    return tree_map(lambda xi, yi: xi + yi, x, y)


def global_norm(tree: Mapping[str, Any]) -> Any:
    """``sqrt(sum_k sum(tree[k]**2))``, a 0-d array on the device (no host sync)."""
    xp = get_backend().xp
    total = None
    for x in tree.values():
        flat = x.reshape(-1)
        sq = xp.vdot(flat, flat)  # sum of squares in one pass, no temporary
        total = sq if total is None else total + sq
    if total is None:
        raise ValueError("global_norm of an empty parameter dict")
    return xp.sqrt(total)


def check_like(tree: Any, ref: Mapping[str, Any], what: str) -> None:
    """Raise ``ValueError`` naming the key if ``tree`` lacks the keys or shapes of ``ref``."""
    if not isinstance(tree, Mapping):
        raise ValueError(f"{what} must be a dict like the params, got {type(tree).__name__}")
    missing = [k for k in ref if k not in tree]
    extra = [k for k in tree if k not in ref]
    if missing or extra:
        raise ValueError(
            f"{what} does not match the params: missing keys {missing}, unexpected keys {extra}"
        )
    backend = get_backend()
    for k, r in ref.items():
        x = backend.check(tree[k], f"{what}[{k!r}]")
        if getattr(x, "shape", None) != r.shape:
            raise ValueError(
                f"{what}[{k!r}] has shape {getattr(x, 'shape', None)}, "
                f"but params[{k!r}] has shape {r.shape}"
            )


def _finite_flag(x: Any) -> Any:
    """``all(isfinite(x))``: a 0-d device array for device arrays, a bool for host values."""
    backend = get_backend()
    if isinstance(x, backend.array_type):
        return backend.xp.all(backend.xp.isfinite(x))
    return bool(np.all(np.isfinite(to_numpy(x))))


def _all_finite(values: list[Any]) -> bool:
    """True if every value is finite, with one host sync for all device values together."""
    ok = True
    for flag in map(_finite_flag, values):
        ok = ok & flag
    return bool(to_numpy(ok))


# ----------------------------------------------------------------------------- validation


def _require_number(name: str, value: Any, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def check_nonnegative(name: str, value: Any, schedulable: bool = False) -> Any:
    """Validate a finite value >= 0 (or, if ``schedulable``, a callable ``t -> value``)."""
    if schedulable and callable(value):
        return value
    value = _require_number(
        name, value, "a number or a schedule t -> value" if schedulable else "a number"
    )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0 (allowed range [0, inf)), got {value}")
    return value


def check_unit_interval(name: str, value: Any) -> float:
    """Validate a number in [0, 1) (momentum, Adam betas)."""
    value = _require_number(name, value, "a number in [0, 1)")
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in the range [0, 1), got {value}")
    return value


# ----------------------------------------------------------------------------- interface


@dataclass
class StepInfo:
    """What a step reports besides the new params and state.

    Attributes:
        loss: the loss returned by the first ``grad_fn`` call of the step, as returned
            (a device scalar stays on the device).
        grad_evals: how many times ``grad_fn`` was called (1, or 2 for SAM).
        points: with ``trace=True``, ``{name: params-like dict}`` of every intermediate
            point of the step (names listed in each optimizer's docstring); else ``None``.
    """

    loss: Any
    grad_evals: int
    points: dict[str, Params] | None = None


class _GradCalls:
    """Wraps ``grad_fn``: validates each result against the params and records it."""

    def __init__(self, grad_fn: Callable[[Params], tuple[Any, Params]], params: Params):
        self.grad_fn = grad_fn
        self.params = params
        self.results: list[tuple[Any, Params]] = []

    def __call__(self, point: Params) -> Params:
        loss, grads = self.grad_fn(point)
        check_like(grads, self.params, "grads")
        self.results.append((loss, grads))
        return grads

    def first_non_finite(self) -> str | None:
        """Describe the first non-finite loss or gradient (extra syncs: error path only)."""
        for i, (loss, grads) in enumerate(self.results, start=1):
            if not _all_finite([loss]):
                return f"the loss of grad_fn call {i}"
            for k, g in grads.items():
                if not _all_finite([g]):
                    return f"grads[{k!r}] of grad_fn call {i}"
        return None

    def all_finite(self) -> bool:
        values = [v for loss, grads in self.results for v in (loss, *grads.values())]
        return _all_finite(values)


class Tracer:
    """Collects the named points of one step; ``tracer(name=dict, ...)`` records them.

    A disabled tracer ignores the call, so optimizers record unconditionally and
    nothing is kept when ``trace=False``.
    """

    def __init__(self, enabled: bool):
        self.points: dict[str, Params] | None = {} if enabled else None

    def __call__(self, **points: Params) -> None:
        if self.points is not None:
            self.points.update(points)


class Optimizer:
    """Base class: hyperparameter lookup, input checks, finite checks, the step protocol.

    A subclass implements :meth:`init_buffers` (the params-sized buffers of its state)
    and :meth:`update`, the update equations of one step::

        update(w, state, grad, t, trace) -> (w_next, buffers)

    where ``grad(point)`` returns the gradient at ``point`` (``grad_fn``'s loss is
    recorded by the base class), ``t`` is the step count, and ``trace(name=dict, ...)``
    records intermediate points. ``buffers`` is the new state without ``"step"``.
    """

    def __init__(self, check_finite: bool = True):
        if not isinstance(check_finite, bool):
            raise ValueError(f"check_finite must be True or False, got {check_finite!r}")
        self.check_finite = check_finite

    # -- what subclasses provide
    def init_buffers(self, params: Params) -> dict[str, Any]:
        raise NotImplementedError

    def update(
        self, w: Params, state: dict[str, Any], grad: Callable, t: int, trace: Tracer
    ) -> tuple[Params, dict[str, Any]]:
        raise NotImplementedError

    # -- the public interface
    def init(self, params: Params) -> dict[str, Any]:
        """The state before the first step: step count 0 and zero buffers."""
        if not isinstance(params, Mapping) or not params:
            raise ValueError("params must be a non-empty dict {name: array}")
        return {"step": 0, **self.init_buffers(params)}

    def step(
        self,
        params: Params,
        state: dict[str, Any],
        grad_fn: Callable[[Params], tuple[Any, Params]],
        trace: bool = False,
    ) -> tuple[Params, dict[str, Any], StepInfo]:
        """One optimizer step; returns ``(new_params, new_state, info)``, inputs unchanged."""
        t = int(state["step"])
        for key, buffer in state.items():
            if isinstance(buffer, Mapping):
                check_like(buffer, params, f"state[{key!r}]")
        calls = _GradCalls(grad_fn, params)
        tracer = Tracer(trace)
        new_params, buffers = self.update(params, state, calls, t, tracer)
        if self.check_finite and not calls.all_finite():
            raise FloatingPointError(
                f"{type(self).__name__} step {t}: {calls.first_non_finite()} is not finite; "
                f"params and state were left unchanged"
            )
        info = StepInfo(calls.results[0][0], len(calls.results), tracer.points)
        return new_params, {"step": t + 1, **buffers}, info

    def eval_params(self, params: Params, state: dict[str, Any]) -> Params:
        """The unperturbed weights to evaluate (the params themselves unless overridden)."""
        return params

    def hyper(self, name: str, t: int) -> float:
        """The value of hyperparameter ``name`` at step ``t`` (schedules are called)."""
        value = getattr(self, name)
        if not callable(value):
            return value
        return check_nonnegative(f"{name} (schedule value at step {t})", value(t))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


# ----------------------------------------------------------------------------- state I/O


def save_state(path: Any, state: Mapping[str, Any]) -> None:
    """Write an optimizer state to ``path`` (an ``.npz`` file, written exactly there).

    Buffers ``state[b][name]`` are stored under the key ``"b/name"`` (buffer names
    never contain "/", parameter names may). The state on the device is not moved:
    host copies are written.
    """
    flat = {}
    for key, value in state.items():
        if "/" in key:
            raise ValueError(f"state key {key!r} must not contain '/'")
        if isinstance(value, Mapping):
            for name, x in value.items():
                flat[f"{key}/{name}"] = to_numpy(x)
        else:
            flat[key] = to_numpy(value)
    with open(path, "wb") as f:
        np.savez(f, **flat)


def load_state(path: Any) -> dict[str, Any]:
    """Read a state written by :func:`save_state` onto the active backend.

    0-d integer entries (the step count) come back as Python ints; arrays go to the device.
    """
    state: dict[str, Any] = {}
    with np.load(path, allow_pickle=False) as data:
        for flat_key in data.files:
            x = data[flat_key]
            key, sep, name = flat_key.partition("/")
            if sep:
                state.setdefault(key, {})[name] = asarray(x)
            elif x.ndim == 0 and np.issubdtype(x.dtype, np.integer):
                state[key] = int(x)
            else:
                state[key] = asarray(x)
    return state
