"""What ``Optimizer.step`` accepts, checked once, with a one-line error naming the fix.

The dtype policy (also in README.md, "Using it"):

- params are real floating arrays of the active backend, float32 or float64 (wider
  floats too); each keeps its own dtype, also when float32 and float64 params are
  mixed. Integer, boolean, complex and float16 params are refused (float16: ``EPS``
  and Adam's ``eps`` underflow to 0, so keep float32 master weights), and so are
  Python numbers (wrap them with ``ms.asarray``);
- a gradient or state buffer of another real dtype is cast to its param's dtype; a
  complex one is refused;
- every point handed to ``grad_fn``, the returned params and the params-sized buffers
  have the params' dtypes, whatever dtype the arithmetic in between promoted to.

Cost. A step validates its ``params`` and ``state`` fully only when they are not the
very objects the previous step of the same optimizer returned (:class:`TrustedInputs`);
a training loop that feeds each step's output to the next pays for the gradient checks
only. The finiteness of an untrusted state is checked with the step's one host sync.
"""

from __future__ import annotations

import inspect
import math
import numbers
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from minimsam.backend import get_backend

__all__ = [
    "all_finite",
    "cast_like",
    "check_grad_result",
    "check_params",
    "check_read_inputs",
    "check_real_number",
    "check_step_inputs",
    "describe_non_finite",
    "finish_step",
]


def check_real_number(name: str, value: Any, expected: str) -> float:
    """``float(value)`` for a real number (not a bool), else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} must be finite, got a number too large for a float") from None


def check_schedule(name: str, schedule: Any) -> Any:
    """Refuse a callable that cannot be called as ``schedule(t)`` with the step count."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return schedule
    try:
        signature.bind(0)
    except TypeError:
        raise ValueError(
            f"{name} is a function with the signature {signature}, but a schedule is called "
            f"as {name}(t) with the step count t: write it as lambda t: ..., or pass a number"
        ) from None
    return schedule


def call_schedule(what: str, schedule: Any, t: int) -> Any:
    """``schedule(t)``, with an arithmetic error in it (``OverflowError`` of a huge power)
    turned into one line naming the schedule and the step."""
    try:
        return schedule(t)
    except ArithmeticError as err:
        raise ValueError(
            f"{what} could not be computed: {schedule!r} raised {type(err).__name__} "
            f"({err.args[-1] if err.args else err}); make it give a finite number at every step"
        ) from err


def check_params(params: Any) -> None:
    """Refuse params that are not a non-empty dict of float32/float64 backend arrays."""
    if not isinstance(params, Mapping) or not params:
        raise ValueError("params must be a non-empty dict {name: array}")
    backend = get_backend()
    for k, x in params.items():
        if not isinstance(x, backend.array_type):
            if isinstance(x, numbers.Number) or np.isscalar(x):
                raise TypeError(
                    f"params[{k!r}] is a {type(x).__name__}, not an array: "
                    f"wrap it with ms.asarray(...), e.g. ms.asarray(np.float64({x!r}))"
                )
            backend.check(x, f"params[{k!r}]")  # the device-mismatch message
        kind, size = x.dtype.kind, x.dtype.itemsize
        if kind == "c":
            raise TypeError(f"params[{k!r}] is complex ({x.dtype}): the optimizers need reals")
        if kind != "f":
            raise TypeError(
                f"params[{k!r}] has dtype {x.dtype}: the optimizers need float32 or float64 "
                f"params; cast it, e.g. x.astype(np.float32)"
            )
        if size < 4:
            raise TypeError(
                f"params[{k!r}] is {x.dtype}: float16 is not supported (EPS and Adam's eps "
                f"underflow to 0); keep float32 params and cast a copy for the forward pass"
            )


def check_matching(tree: Any, params: Mapping[str, Any], what: str) -> None:
    """Raise ``ValueError`` unless ``tree`` has exactly the keys and shapes of ``params``."""
    if not isinstance(tree, Mapping):
        raise ValueError(f"{what} must be a dict like the params, got {type(tree).__name__}")
    if tree.keys() != params.keys():
        missing = [k for k in params if k not in tree]
        extra = [k for k in tree if k not in params]
        raise ValueError(
            f"{what} does not match the params: missing keys {missing}, unexpected keys {extra}"
        )
    backend = get_backend()
    for k, p in params.items():
        x = backend.check(tree[k], f"{what}[{k!r}]")
        if getattr(x, "shape", None) != p.shape:
            raise ValueError(
                f"{what}[{k!r}] has shape {getattr(x, 'shape', None)}, "
                f"but params[{k!r}] has shape {p.shape}"
            )
        kind = x.dtype.kind
        if kind == "c":
            raise TypeError(
                f"{what}[{k!r}] is complex ({x.dtype}): the optimizers need real values"
            )
        if kind not in "fiu":
            raise TypeError(f"{what}[{k!r}] has dtype {x.dtype}: expected a real number type")


def cast_like(tree: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``tree`` with each entry in its param's dtype (no copy where it already is), in the
    params' key order."""
    return {k: _cast(tree[k], p.dtype) for k, p in params.items()}


def _cast(x: Any, dtype: Any) -> Any:
    return x if x.dtype == dtype else x.astype(dtype)


def _arrays_like(tree: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``tree`` as arrays of the active backend in the params' dtypes, in their key order."""
    backend = get_backend()
    array_type, xp = backend.array_type, backend.xp
    arrays = {}
    for k, p in params.items():
        x = tree[k]
        ready = isinstance(x, array_type) and x.dtype == p.dtype
        arrays[k] = x if ready else xp.asarray(x, dtype=p.dtype)
    return arrays


def _check_loss(loss: Any, call: int) -> None:
    if isinstance(loss, numbers.Real) and not isinstance(loss, bool):
        return
    size, kind = getattr(loss, "size", None), getattr(getattr(loss, "dtype", None), "kind", "")
    if size == 1 and kind and kind in "fiu":
        return
    shown = f"an array of shape {loss.shape}" if size not in (None, 1) else repr(loss)[:60]
    raise TypeError(
        f"grad_fn call {call} returned the loss {shown}; it must be a real scalar "
        f"(a number or a one-element array)"
    )


def check_grad_result(result: Any, params: Mapping[str, Any], call: int) -> tuple[Any, dict]:
    """Validate ``grad_fn``'s ``(loss, grads)``; return it with the grads in the params' dtypes."""
    if not (isinstance(result, tuple) and len(result) == 2):
        got = f"a {type(result).__name__}" if not isinstance(result, tuple) else "a tuple"
        if isinstance(result, tuple):
            got += f" of length {len(result)}"
        raise TypeError(f"grad_fn must return a pair (loss, grads), but call {call} returned {got}")
    loss, grads = result
    _check_loss(loss, call)
    if _same_arrays_as(grads, params):  # the common case, checked in one pass
        return loss, grads
    check_matching(grads, params, "grads")  # finds what differs, or a dtype to cast
    return loss, cast_like(grads, params)


def _same_arrays_as(tree: Any, params: Mapping[str, Any]) -> bool:
    """True if ``tree`` has the keys of ``params`` in their order, each an array of the
    active backend with its param's shape and dtype (nothing to check further or cast)."""
    array_type = get_backend().array_type
    return (
        isinstance(tree, Mapping)
        and len(tree) == len(params)
        and all(k == q and isinstance(x, array_type) and x.shape == p.shape and x.dtype == p.dtype
                for (k, x), (q, p) in zip(tree.items(), params.items()))
    )  # fmt: skip


def _check_step_count(state: Mapping[str, Any]) -> int:
    if "step" not in state:
        raise ValueError(
            "state has no 'step' entry: make the state with opt.init(params) "
            "(or read one saved with save_state back with load_state)"
        )
    t = state["step"]
    if isinstance(t, bool) or not isinstance(t, (numbers.Integral, np.integer)) or t < 0:
        raise ValueError(f"state['step'] must be a non-negative int (steps taken), got {t!r}")
    return int(t)


def _check_layout(state: Mapping[str, Any], layout: Mapping[str, bool], owner: str) -> None:
    """``layout`` maps each buffer name this optimizer keeps to whether it is params-sized."""
    names = [k for k in state if k != "step"]
    if set(names) != set(layout) or any(
        isinstance(state[k], Mapping) != sized for k, sized in layout.items()
    ):
        hint = ""
        if set(names) ^ set(layout) == {"scale"}:  # MSAM's two storage forms
            hint = " (only MSAM(store_perturbed=True) keeps 'scale'; use the same setting)"
        raise ValueError(
            f"state has entries {names}, but {owner} keeps {list(layout)}{hint}: was it made by "
            f"another optimizer or with other settings? Make it with this optimizer's init(params)"
        )


def check_state(
    state: Any, params: Mapping[str, Any], layout: Mapping[str, bool], owner: str
) -> list[Any]:
    """Refuse a state that does not fit ``layout`` (:func:`buffer_layout`) and the params.

    Returns the params and every buffer, for the step's one finiteness check (no host
    sync here).
    """
    if not isinstance(state, Mapping):
        raise ValueError(
            f"state must be the dict made by opt.init(params), got {type(state).__name__}"
        )
    _check_layout(state, layout, owner)
    values = list(params.values())
    for key, sized in layout.items():
        value = state[key]
        if sized:
            check_matching(value, params, f"state[{key!r}]")
            values.extend(value.values())
        else:
            if getattr(value, "shape", None) != () or getattr(value, "dtype", None) is None:
                raise ValueError(f"state[{key!r}] must be a 0-d float array, got {value!r}")
            check_matching({key: value}, {key: value}, "state")  # backend and real dtype
            values.append(value)
    return values


def buffer_layout(opt: Any) -> dict[str, bool]:
    """``{buffer name: params-sized?}`` of ``opt``'s state, from its ``init_buffers``."""
    layout = _LAYOUTS.get(opt)
    if layout is None:
        dummy = {"x": get_backend().xp.zeros(1)}
        layout = {k: isinstance(v, Mapping) for k, v in opt.init_buffers(dummy).items()}
        _LAYOUTS[opt] = layout
    return layout


def describe_non_finite(params: Mapping[str, Any], state: Mapping[str, Any]) -> str | None:
    """Name the first non-finite param or state entry, with the fix (error path only)."""
    for k, x in params.items():
        if not all_finite([x]):
            return f"params[{k!r}] is not finite (lower lr if an earlier step made it so)"
    for key, value in state.items():
        if key == "step":
            continue
        for k, x in value.items() if isinstance(value, Mapping) else [(None, value)]:
            if not all_finite([x]):
                where = f"state[{key!r}]" + (f"[{k!r}]" if k is not None else "")
                return f"{where} is not finite (restart from opt.init(params) or a good state)"
    return None


def all_finite(values: list[Any]) -> bool:
    """True if every value is finite: flags combined on the device, one host sync in all."""
    backend = get_backend()
    xp, ok = backend.xp, True
    for x in values:
        if isinstance(x, backend.array_type):
            ok = ok & xp.all(xp.isfinite(x))
        elif not math.isfinite(float(x)):
            return False
    return bool(ok if isinstance(ok, bool) else backend.to_host(ok))


# ----------------------------------------------------------------------------- the step


def check_step_inputs(opt: Any, params: Any, state: Any) -> tuple[int, list[Any]]:
    """Validate ``step``'s params and state unless they are the last step's own output.

    Returns the step count and the arrays whose finiteness is still unchecked (params
    and buffers of new inputs; none for the last step's output), for the step's one
    fused finiteness check. Per-optimizer memory lives here, in weak dictionaries, so
    that the optimizer object, its ``vars`` and its ``repr`` stay as the user built them.
    """
    unchecked: list[Any] = []
    if not _trusted(opt, params, state):
        check_params(params)
        unchecked = check_state(state, params, buffer_layout(opt), type(opt).__name__)
    return _check_step_count(state), unchecked


def check_read_inputs(opt: Any, params: Any, state: Any) -> None:
    """What every public method that reads a state (``eval_params``) checks first: the
    params, and a state of this very optimizer and settings for them (a state of
    ``MSAM(store_perturbed=True)`` read by a default ``MSAM`` is refused, as ``step``
    refuses it). Structure only: nothing is synced to the host. Skipped for the last
    step's own output."""
    if not _trusted(opt, params, state):
        check_params(params)
        check_state(state, params, buffer_layout(opt), type(opt).__name__)
        _check_step_count(state)


def _trusted(opt: Any, params: Any, state: Any) -> bool:
    trusted = _TRUSTED.get(opt)
    return trusted is not None and trusted.trusts(params, state)


def finish_step(opt: Any, params: Mapping[str, Any], new_params: dict, buffers: dict, t: int):
    """The step's outputs as arrays in the params' dtypes (the NumPy scalars that arithmetic
    makes of 0-d arrays become 0-d arrays again); remembered as trusted for the next step."""
    new_params = _arrays_like(new_params, params)
    buffers = {k: _arrays_like(v, params) if isinstance(v, Mapping) else v
               for k, v in buffers.items()}  # fmt: skip
    new_state = {"step": t + 1, **buffers}
    _TRUSTED.setdefault(opt, TrustedInputs()).remember(new_params, new_state)
    return new_params, new_state


class TrustedInputs:
    """Remembers the ``(params, state)`` one optimizer's last step returned.

    Those objects were built by the step from validated inputs, so feeding them back
    skips the structural checks. Identity is compared, down to every array: the dicts
    and each of their entries must be the very objects returned, so a state or params
    edited by replacing an entry (``state["scale"] = ...``) is checked again; values
    changed inside an array in place are not. Holding the last output keeps it alive
    until the next step (or until the optimizer is deleted).
    """

    def __init__(self) -> None:
        self._snapshot: tuple = ()

    @staticmethod
    def _leaves(params: Mapping[str, Any], state: Mapping[str, Any]) -> list[Any]:
        leaves: list[Any] = [params, state, *params.values()]
        for value in state.values():
            leaves.append(value)
            if isinstance(value, Mapping):
                leaves.extend(value.values())
        return leaves

    def trusts(self, params: Any, state: Any) -> bool:
        if not (self._snapshot and params is self._snapshot[0] and state is self._snapshot[1]):
            return False
        leaves = self._leaves(params, state)
        return len(leaves) == len(self._snapshot) and all(
            a is b for a, b in zip(leaves, self._snapshot)
        )

    def remember(self, params: Mapping[str, Any], state: Mapping[str, Any]) -> None:
        self._snapshot = tuple(self._leaves(params, state))


_TRUSTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LAYOUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
