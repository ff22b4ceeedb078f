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
  ``optim.save_state`` / ``optim.load_state`` (:mod:`minimsam.serialization`) write
  and read it as ``.npz``.
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

Dtypes (:mod:`minimsam.optim.validation`). Params are float32 or float64 arrays and each
keeps its own dtype, also when both are mixed: a gradient or state buffer of another
real dtype is cast to its param's dtype, and every point handed to ``grad_fn`` has the
params' dtypes. Complex, integer and float16 params, complex gradients and Python
numbers as params are refused with a one-line error (float16: ``EPS`` and Adam's
``eps`` underflow to 0; keep float32 params).

One kernel per equation on a device (:mod:`minimsam.optim.flat`). On a GPU backend every
params-like vector of ``step`` (``w``, the buffers, each gradient) is a
:class:`~minimsam.optim.flat.Flat`, one buffer per dtype read as the dict of its views,
and the helpers below (:func:`axpy`, :func:`tree_map`, :func:`over_norm`, ...) apply an
equation to the whole buffer at once: one kernel launch per equation, whatever the number
of tensors. The dicts such a step returns are views of its buffers; fed back to the next
step unchanged, they are used without a copy. On the host the helpers work key by key
on the dicts, which costs the same passes over memory; :func:`tensorwise` runs a block of
elementwise equations one tensor at a time there. Both give entry for entry the same
numbers.

Input checks. ``step`` checks ``params`` and ``state`` (keys, shapes, dtypes, the step
count, the buffers this optimizer keeps and, with ``check_finite``, their finiteness)
unless they are exactly what the previous step of the same optimizer returned, and
checks each ``grad_fn`` result: a pair ``(loss, grads)`` with a real scalar loss.
``eval_params``, the other method that reads a state, makes the same structural
checks (no finiteness check, no host sync).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from minimsam.backend import get_backend, to_numpy
from minimsam.optim import validation
from minimsam.optim.flat import Flat, gather, last_outputs, layout_of

__all__ = [
    "EPS",
    "Optimizer",
    "StepInfo",
    "add",
    "axpy",
    "global_norm",
    "over_norm",
    "scale",
    "tensorwise",
    "tree_map",
    "zeros_like",
]

EPS = 1e-12

Params = dict[str, Any]
Schedule = Callable[[int], float]


# ----------------------------------------------------------------------------- tree helpers


def _one_layout(*trees: Any) -> bool:
    """True if every tree is a :class:`Flat` of one layout: the equation runs on its buffers."""
    first = trees[0]
    return isinstance(first, Flat) and all(
        isinstance(t, Flat) and t.layout is first.layout for t in trees[1:]
    )


def tree_map(fn: Callable[..., Any], tree: Mapping[str, Any], *rest: Mapping[str, Any]) -> Any:
    """``{k: fn(tree[k], rest[0][k], ...)}`` in the key order of ``tree``.

    On Flats of one layout, ``fn`` is applied once per buffer (``fn`` must be elementwise).
    """
    if _one_layout(tree, *rest):
        return tree.map(fn, *rest)
    return {k: fn(x, *(r[k] for r in rest)) for k, x in tree.items()}


def tensorwise(block: Callable[..., tuple], *trees: Mapping[str, Any]) -> tuple:
    """``block(*trees)`` for a ``block`` of elementwise equations, run one tensor at a time.

    ``block`` takes params-like dicts and returns a tuple of them. Its equations are
    elementwise, so running it on ``{k: tree[k]}`` for each key ``k`` and joining the
    results gives entry for entry the numbers of one call on the whole dicts. On the host
    each tensor's arrays then stay in the cache from one equation to the next, and the
    temporaries of only one tensor exist at a time (a lower peak memory). On Flats of one
    layout (a device) the block runs once, on the buffers.
    """
    if _one_layout(*trees):
        return block(*trees)
    parts = [block(*({k: t[k]} for t in trees)) for k in trees[0]]
    return tuple({k: v for part in outputs for k, v in part.items()} for outputs in zip(*parts))


def zeros_like(tree: Mapping[str, Any]) -> Any:
    """A buffer of zeros with the keys, shapes, dtypes and device of ``tree``."""
    xp = get_backend().xp
    return tree_map(xp.zeros_like, tree)


def axpy(a: Any, x: Mapping[str, Any], y: Mapping[str, Any]) -> Any:
    """``a * x + y`` for each key; ``a`` is a number or a 0-d array on the device.

    A number ``a == 0`` skips the exactly-zero term and returns ``y`` (a dict in a new
    dict; e.g. ``weight_decay=0`` costs nothing). Otherwise each buffer (Flats) or key
    (dicts) is one fused ``a * x + y`` of the backend's kernels (one CUDA kernel on
    CuPy; on NumPy one new array with ``y`` added into it in place).
    """
    if isinstance(a, numbers.Real) and a == 0:
        return y if isinstance(y, Flat) else dict(y)
    kernel = get_backend().kernels.axpy
    if _one_layout(x, y):
        return x.map(lambda xi, yi: kernel(a, xi, yi), y)
    return {k: kernel(a, xi, y[k]) for k, xi in x.items()}


def scale(a: Any, x: Mapping[str, Any]) -> Any:
    """``a * x`` for each key."""
    return tree_map(lambda xi: a * xi, x)


def add(x: Mapping[str, Any], y: Mapping[str, Any]) -> Any:
    """``x + y`` for each key."""
    return tree_map(lambda xi, yi: xi + yi, x, y)


def _sumsq(tree: Mapping[str, Any]) -> Any:
    """``sum_k sum(tree[k]**2)``, summed tensor by tensor in key order (a 0-d array).

    A Flat of one buffer is one fused reduction (``kernels.sumsq_segments``: on NumPy one
    dot product per tensor, as for a dict, so the sum rounds as it always did).
    """
    if not tree:
        raise ValueError("global_norm of an empty parameter dict")
    kernels = get_backend().kernels
    if isinstance(tree, Flat) and len(tree.buffers) == 1:
        return kernels.sumsq_segments(tree.buffers[0], tree.layout.sizes[0])
    return kernels.sumsq(tree.segments() if isinstance(tree, Flat) else list(tree.values()))


def global_norm(tree: Mapping[str, Any]) -> Any:
    """``sqrt(sum_k sum(tree[k]**2))``, a 0-d array on the device (no host sync).

    The sum of squares over all keys is one fused reduction of the backend's kernels.
    """
    return get_backend().xp.sqrt(_sumsq(tree))


def over_norm(a: float, tree: Mapping[str, Any]) -> Any:
    """``a / (||tree|| + EPS)``, a 0-d array on the device: one reduction, one scalar kernel.

    Equal to ``a / (global_norm(tree) + EPS)`` bit for bit.
    """
    return get_backend().kernels.over_norm(a, _sumsq(tree), EPS)


def check_like(tree: Any, ref: Mapping[str, Any], what: str) -> None:
    """Raise ``ValueError`` naming the key if ``tree`` lacks the keys or shapes of ``ref``."""
    if _is_like(tree, ref):
        return  # the common case, checked in one pass; the rest finds what is wrong
    validation.check_matching(tree, ref, what)


def _is_like(tree: Any, ref: Mapping[str, Any]) -> bool:
    """True if ``tree`` has exactly ``ref``'s keys, each an array of the active backend
    with the shape of ``ref``'s entry."""
    array_type = get_backend().array_type
    return (
        isinstance(tree, Mapping)
        and tree.keys() == ref.keys()
        and all(isinstance(tree[k], array_type) and tree[k].shape == r.shape
                for k, r in ref.items())
    )  # fmt: skip


_all_finite = validation.all_finite


def _all_finite_fused(values: list[Any]) -> bool:
    """True if every value is finite: one fused reduction over all device values, one sync.

    A sum of squares is finite only if every entry is, so a finite sum settles it. A
    non-finite sum (a non-finite entry, or finite entries so large that their squares
    overflow) is settled by the entrywise :func:`_all_finite`.
    """
    backend = get_backend()
    device = [v for v in values if isinstance(v, backend.array_type)]
    host = [v for v in values if not isinstance(v, backend.array_type)]
    if host and not _all_finite(host):
        return False
    if not device or math.isfinite(float(to_numpy(backend.kernels.sumsq(device)))):
        return True
    return _all_finite(device)


# ----------------------------------------------------------------------------- validation


_require_number = validation.check_real_number


def check_nonnegative(name: str, value: Any, schedulable: bool = False) -> Any:
    """Validate a finite value >= 0 (or, if ``schedulable``, a callable ``t -> value``)."""
    if schedulable and callable(value):
        return validation.check_schedule(name, value)
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
    """Wraps ``grad_fn``: validates each result against the params and records it.

    A point is handed to ``grad_fn`` as a dict in the params' dtypes; each gradient is
    returned as a :class:`Flat` of the params' layout when ``w`` is one (one copy per
    buffer, on a device), else as the dict in the params' dtypes.
    """

    def __init__(
        self,
        grad_fn: Callable[[Params], tuple[Any, Params]],
        params: Params,
        w: Any,
        check_finite: bool,
    ):
        self.grad_fn = grad_fn
        self.params = params
        self.w = w  # the params as the step holds them: grad(w) hands grad_fn the params
        self.results: list[tuple[Any, Any]] = []
        # On the host, each gradient's sum of squares (its finite check) is taken as it
        # arrives, while its memory is still in the cache that the backward pass left it in.
        self.sumsqs: list[Any] | None = [] if check_finite and not isinstance(w, Flat) else None

    def __call__(self, point: Mapping[str, Any]) -> Any:
        if point is self.w:
            point = self.params
        elif isinstance(point, Flat):
            point = point.cast().as_dict()
        else:
            point = validation.cast_like(point, self.params)  # grad_fn sees the params' dtypes
        result = self.grad_fn(point)
        loss, grads = validation.check_grad_result(result, self.params, len(self.results) + 1)
        if isinstance(self.w, Flat):
            grads = gather(grads, self.w.layout)
        elif self.sumsqs is not None:
            self.sumsqs.append(get_backend().kernels.sumsq(list(grads.values())))
        self.results.append((loss, grads))
        return grads

    def first_non_finite(self, state: Mapping[str, Any]) -> str:
        """Describe the first non-finite input, loss or gradient (error path only)."""
        bad_input = validation.describe_non_finite(self.params, state)
        if bad_input is not None:
            return bad_input
        for i, (loss, grads) in enumerate(self.results, start=1):
            if not _all_finite([loss]):
                return f"the loss of grad_fn call {i} is not finite"
            for k, g in grads.items():
                if not _all_finite([g]):
                    return f"grads[{k!r}] of grad_fn call {i} is not finite"
        return "a value of the step is not finite"

    def all_finite(self, extra: list[Any]) -> bool:
        """Losses, gradients and ``extra`` arrays all finite: one host sync in all.

        On the host the gradients' sums of squares were taken as they arrived; a
        non-finite one (a non-finite entry, or squares that overflow) is settled entrywise.
        """
        values = [loss for loss, _ in self.results]
        if self.sumsqs is None:  # a device: one fused reduction over everything
            for _, grads in self.results:
                values += grads.buffers if isinstance(grads, Flat) else grads.values()
            return _all_finite_fused(values + extra)
        if not _all_finite_fused(values + extra):
            return False
        return all(
            math.isfinite(float(ss)) or _all_finite(list(grads.values()))
            for ss, (_, grads) in zip(self.sumsqs, self.results)
        )


class Tracer:
    """Collects the named points of one step; ``tracer(name=dict, ...)`` records them.

    A disabled tracer ignores the call, so optimizers record unconditionally and
    nothing is kept when ``trace=False``.
    """

    def __init__(self, enabled: bool):
        self.points: dict[str, Params] | None = {} if enabled else None

    def __call__(self, **points: Params) -> None:
        if self.points is not None:
            self.points.update({k: _as_dict(p) for k, p in points.items()})


def _as_dict(tree: Any) -> Any:
    """A Flat's views as a plain dict; anything else as it is."""
    return tree.as_dict() if isinstance(tree, Flat) else tree


def _as_arrays(tree: Any) -> Any:
    """A step's output as a dict of arrays: a Flat's views, and in a dict the NumPy
    scalars that array arithmetic makes of 0-d arrays turned back into 0-d arrays."""
    if isinstance(tree, Flat):
        return tree.as_dict()
    if not isinstance(tree, Mapping):
        return tree
    backend = get_backend()
    return {k: x if isinstance(x, backend.array_type) else backend.xp.asarray(x)
            for k, x in tree.items()}  # fmt: skip


def _step_inputs(opt: Optimizer, params: Params, state: Mapping[str, Any]):
    """``params`` and ``state`` as the step computes with them: on a device the params and
    the params-sized buffers as Flats of the params' layout (the dicts the last step of
    ``opt`` returned give back their buffers, others are copied in); on the host, where
    a Flat saves no pass over memory (:mod:`minimsam.optim.flat`), the dicts themselves.
    """
    if get_backend().name == "numpy":
        return params, state
    memory = last_outputs(opt)
    w = memory.find(params)
    if w is None:
        w = gather(params, layout_of(params))
    flat_state = {
        k: memory.take(v, w.layout) if isinstance(v, Mapping) else v for k, v in state.items()
    }
    return w, flat_state


def _finish_flat(opt: Optimizer, params: Params, new_w: Any, buffers: dict, t: int):
    """A device step's outputs: the views of its Flats (remembered for the next step)."""
    outputs = {k: v.cast() if isinstance(v, Flat) else v for k, v in
               {"params": new_w, **buffers}.items()}  # fmt: skip
    views = {k: _as_arrays(v) for k, v in outputs.items()}
    new_params, new_state = validation.finish_step(
        opt, params, views["params"], {k: v for k, v in views.items() if k != "params"}, t
    )
    returned = {"params": new_params, **new_state}
    last_outputs(opt).remember(
        [(returned[k], flat, views[k]) for k, flat in outputs.items() if isinstance(flat, Flat)]
    )
    return new_params, new_state


class Optimizer:
    """Base class: hyperparameter lookup, input checks, finite checks, the step protocol.

    A subclass implements :meth:`init_buffers` (the params-sized buffers of its state)
    and :meth:`update`, the update equations of one step::

        update(w, state, grad, t, trace) -> (w_next, buffers)

    where ``grad(point)`` returns the gradient at ``point`` (``grad_fn``'s loss is
    recorded by the base class), ``t`` is the step count, and ``trace(name=dict, ...)``
    records intermediate points. ``buffers`` is the new state without ``"step"``.
    On a device, ``w``, the params-sized buffers of ``state`` and each gradient are
    :class:`~minimsam.optim.flat.Flat` vectors, read as dicts; written with the helpers
    of this module, each equation is one operation on their buffers. On the host they
    are the dicts. An ``update`` may return Flats or dicts.
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
        validation.check_params(params)
        return {"step": 0, **self.init_buffers(params)}

    def step(
        self,
        params: Params,
        state: dict[str, Any],
        grad_fn: Callable[[Params], tuple[Any, Params]],
        trace: bool = False,
    ) -> tuple[Params, dict[str, Any], StepInfo]:
        """One optimizer step; returns ``(new_params, new_state, info)``, inputs unchanged."""
        t, unchecked = validation.check_step_inputs(self, params, state)
        w, flat_state = _step_inputs(self, params, state)
        calls = _GradCalls(grad_fn, params, w, self.check_finite)
        tracer = Tracer(trace)
        new_w, buffers = self.update(w, flat_state, calls, t, tracer)
        if self.check_finite and not calls.all_finite(unchecked):
            raise FloatingPointError(
                f"{type(self).__name__} step {t}: {calls.first_non_finite(state)}; "
                f"params and state were left unchanged"
            )
        info = StepInfo(calls.results[0][0], len(calls.results), tracer.points)
        if not isinstance(w, Flat):  # the host: dicts throughout
            return (*validation.finish_step(self, params, new_w, buffers, t), info)
        new_params, new_state = _finish_flat(self, params, new_w, buffers, t)
        return new_params, new_state, info

    def eval_params(self, params: Params, state: dict[str, Any]) -> Params:
        """The unperturbed weights to evaluate (the params themselves unless overridden).

        Checks that ``state`` is a state of this optimizer, with these settings, for
        ``params`` (as ``step`` does); an override calls this first."""
        validation.check_read_inputs(self, params, state)
        return params

    def hyper(self, name: str, t: int) -> float:
        """The value of hyperparameter ``name`` at step ``t`` (schedules are called)."""
        value = getattr(self, name)
        if not callable(value):
            return value
        what = f"{name} (schedule value at step {t})"
        return check_nonnegative(what, validation.call_schedule(what, value, t))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"
