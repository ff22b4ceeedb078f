"""Function transformations: ``value_and_grad``, ``grad`` and ``hvp``.

They differentiate a Python function with respect to its first argument, which may
be an array or a (nested) dict / list / tuple of arrays (a "tree", such as the
parameter dict of a model). Gradients come back with the same structure, as plain
arrays of the active backend.

Conventions, stated once:

* the function must return a scalar (an array with one element); anything else is a
  ``ValueError`` naming the shape (use ``has_aux=True`` to return extras alongside), a
  tuple without ``has_aux=True`` is a ``ValueError`` saying so, and a string, ``None``
  or other non-number a ``TypeError``;
* every parameter (leaf) is a floating array or a Python float; a Python float is
  differentiated as a 0-d float64 array of the active backend, so its gradient is one
  (``grad(lambda x: x * x)(3.0)`` is ``6.0``). An integer, boolean or complex leaf is a
  ``TypeError`` naming it, a Python int (``grad(f)(3)``) included, as in JAX: the
  gradient has its parameter's dtype, and an integer gradient would be truncated (pass
  ``3.0``, or cast an array first, e.g. ``x.astype(np.float64)``);
* a parameter that does not influence the value gets an all-zero gradient;
* a gradient has its parameter's dtype and shape;
* ``hvp``'s ``v`` is matched to the params by key (dicts) and position (lists), and each
  leaf must have its parameter's shape exactly: no broadcasting;
* the transforms do not nest (gradients come back as plain arrays): ``grad`` of a
  function that calls ``grad`` or ``hvp`` is a ``TypeError`` saying so. Second
  derivatives: ``hvp``; higher ones: ``Tensor.backward(create_graph=True)`` repeatedly.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from minimsam.autodiff.elementwise import add, mul
from minimsam.autodiff.reductions import sum as sum_reduce
from minimsam.autodiff.tensor import Tensor, backprop, enable_grad
from minimsam.backend import get_backend

__all__ = ["value_and_grad", "grad", "hvp", "tree_flatten", "tree_paths", "tree_unflatten"]


# ------------------------------------------------------------------------------------ trees


def tree_flatten(tree: Any) -> tuple[list[Any], Any]:
    """Leaves of a nested dict/list/tuple in a fixed order, plus the structure to rebuild it."""
    if isinstance(tree, Mapping):
        keys = list(tree)
        parts = [tree_flatten(tree[k]) for k in keys]
        return [leaf for leaves, _ in parts for leaf in leaves], ("dict", keys, parts)
    if isinstance(tree, (list, tuple)):
        parts = [tree_flatten(v) for v in tree]
        return [leaf for leaves, _ in parts for leaf in leaves], (type(tree), None, parts)
    return [tree], None


def tree_unflatten(structure: Any, leaves: list[Any]) -> Any:
    """Inverse of :func:`tree_flatten`."""
    return _build(structure, iter(leaves))


def _build(node: Any, leaves: Iterator[Any]) -> Any:
    """Rebuild one node of a structure from the leaves, in order. (A module-level function,
    not a recursive closure: a closure that refers to itself is a reference cycle, which
    would keep every step's leaves alive until the garbage collector runs.)"""
    if node is None:
        return next(leaves)
    kind, keys, parts = node
    children = [_build(sub, leaves) for _, sub in parts]
    if kind == "dict":
        return dict(zip(keys, children))
    return kind(children)


# --------------------------------------------------------------------------- transformations


def tree_paths(tree: Any, prefix: str = "params") -> list[str]:
    """The path of each leaf, ``params['w']`` or ``params[0]``, in :func:`tree_flatten` order."""
    if isinstance(tree, Mapping):
        return [p for k in tree for p in tree_paths(tree[k], f"{prefix}[{k!r}]")]
    if isinstance(tree, (list, tuple)):
        return [p for i, v in enumerate(tree) for p in tree_paths(v, f"{prefix}[{i}]")]
    return [prefix]


def _refuse_traced(leaves: list[Any], params: Any, what: str = "params") -> None:
    """A transform applied to the traced values of an outer one (``grad(grad(f))``, the
    gradient of an ``hvp``) is not supported: say so, instead of a device mismatch."""
    for i, x in enumerate(leaves):
        if isinstance(x, Tensor):
            raise TypeError(
                f"{tree_paths(params, what)[i]} is a traced Tensor: a transform (grad, "
                f"value_and_grad, hvp) was called inside another one, which is not supported; "
                f"use ms.hvp(f)(params, v) for second derivatives, and for higher ones "
                f"Tensor.backward(create_graph=True) repeatedly"
            )


def _float_leaves(leaves: list[Any], params: Any) -> list[Any]:
    """The leaves as floating arrays (a Python float becomes a 0-d float64 array); refuse
    any other leaf, naming the first: gradients are defined for floating leaves only."""
    xp = get_backend().xp
    out = []
    for i, x in enumerate(leaves):
        if isinstance(x, float):
            x = xp.asarray(x, dtype=xp.float64)
        dtype = getattr(x, "dtype", None)
        if dtype is None or dtype.kind != "f":
            where = tree_paths(params)[i]
            what = f"dtype {dtype}" if dtype is not None else f"type {type(x).__name__}"
            fix = (
                f"pass a float, e.g. {float(x)!r}"
                if isinstance(x, numbers.Integral) and not isinstance(x, bool)
                else "cast it first, e.g. x.astype(np.float64)"
            )
            raise TypeError(
                f"cannot differentiate with respect to {where}, which has {what}: gradients "
                f"need floating parameters; {fix}"
            )
        out.append(x)
    return out


def _traced_call(fun: Callable, params: Any, args: tuple, kwargs: dict) -> tuple:
    """Call ``fun`` with every leaf of ``params`` wrapped in a Tensor that requires grad."""
    backend = get_backend()
    leaves, structure = tree_flatten(params)
    _refuse_traced(leaves, params)
    leaves = _float_leaves([backend.check(x, what="parameter") for x in leaves], params)
    inputs = [Tensor(x, requires_grad=True) for x in leaves]
    with enable_grad():
        out = fun(tree_unflatten(structure, inputs), *args, **kwargs)
    return out, inputs, structure


def _check_scalar(value: Any) -> None:
    if isinstance(value, (tuple, list)):
        raise ValueError(
            f"the function returned a {type(value).__name__} of length {len(value)}, not a "
            f"scalar; if it returns (value, aux), pass has_aux=True"
        )
    is_number = isinstance(value, numbers.Number) and not isinstance(value, bool)
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if not is_number and kind not in ("f", "i", "u"):
        raise TypeError(
            f"the function must return a real scalar (an array with one element), "
            f"got {type(value).__name__} {repr(value)[:40]}"
        )
    shape = tuple(getattr(value, "shape", ()))
    if len(shape) and int(getattr(value, "size", 1)) != 1:
        raise ValueError(
            f"value_and_grad needs a function that returns a scalar, but it returned an "
            f"array of shape {shape}; reduce it first (e.g. with .mean() or .sum())"
        )


def _split_aux(out: Any, has_aux: bool) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError("with has_aux=True the function must return a pair (value, aux)")
    return out


def _zeros_where_missing(grads: list[Any], inputs: list[Tensor]) -> list[Any]:
    """Each gradient in its parameter's dtype (a float32 parameter used with float64 data
    still gets a float32 gradient), zeros where the value does not depend on it."""
    xp = get_backend().xp
    return [
        xp.zeros_like(x.data) if g is None else g.astype(x.dtype, copy=False)
        for g, x in zip(grads, inputs)
    ]


def _untrace(tree: Any) -> Any:
    leaves, structure = tree_flatten(tree)
    return tree_unflatten(structure, [x.data if isinstance(x, Tensor) else x for x in leaves])


def value_and_grad(fun: Callable, has_aux: bool = False) -> Callable:
    """Turn ``fun(params, *args)`` into ``f(params, *args) -> (value, grads)``.

    ``grads`` has the structure of ``params``; ``value`` is the scalar array
    ``fun`` returned (not moved to the host). With ``has_aux=True``, ``fun`` returns
    ``(value, aux)`` and the result is ``((value, aux), grads)``; ``aux`` is detached.
    """

    def value_and_grad_fun(params: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        out, inputs, structure = _traced_call(fun, params, args, kwargs)
        value, aux = _split_aux(out, has_aux)
        _check_scalar(value)
        if isinstance(value, Tensor):
            grads = backprop(value, inputs)
            value = value.data
        else:  # the value does not depend on the parameters at all
            grads = [None] * len(inputs)
        grads = tree_unflatten(structure, _zeros_where_missing(grads, inputs))
        return ((value, _untrace(aux)) if has_aux else value), grads

    value_and_grad_fun.__doc__ = f"Value and gradient of {getattr(fun, '__name__', fun)}."
    return value_and_grad_fun


def grad(fun: Callable, has_aux: bool = False) -> Callable:
    """Turn ``fun(params, *args)`` into ``f(params, *args) -> grads`` (see value_and_grad)."""
    vg = value_and_grad(fun, has_aux=has_aux)

    def grad_fun(params: Any, *args: Any, **kwargs: Any) -> Any:
        return vg(params, *args, **kwargs)[1]

    return grad_fun


def _match_params(v: Any, params: Any, path: str = "") -> list[Any]:
    """The leaves of ``v`` in the order of ``params``' leaves, matched by key; refuse any
    missing or extra key, other length, other shape (no broadcasting) or non-real leaf."""
    if isinstance(params, Mapping):
        if not isinstance(v, Mapping):
            raise ValueError(
                f"hvp: v{path} must be a dict like params{path}, got {type(v).__name__}"
            )
        missing, extra = [k for k in params if k not in v], [k for k in v if k not in params]
        if missing or extra:
            raise ValueError(
                f"hvp: v{path} does not match params{path}: missing keys {missing}, "
                f"unexpected keys {extra}"
            )
        return [x for k in params for x in _match_params(v[k], params[k], f"{path}[{k!r}]")]
    if isinstance(params, (list, tuple)):
        if not isinstance(v, (list, tuple)) or len(v) != len(params):
            raise ValueError(f"hvp: v{path} must be a sequence of {len(params)} like params{path}")
        return [x for i, p in enumerate(params) for x in _match_params(v[i], p, f"{path}[{i}]")]
    _refuse_traced([v], v, f"hvp's v{path}")
    v = get_backend().check(v, what=f"hvp's v{path}")
    v_shape, p_shape = tuple(getattr(v, "shape", ())), tuple(getattr(params, "shape", ()))
    if v_shape != p_shape:
        raise ValueError(f"hvp: v{path} has shape {v_shape}, but params{path} has shape {p_shape}")
    kind = getattr(getattr(v, "dtype", None), "kind", "f" if isinstance(v, float) else "?")
    if kind not in ("f", "i", "u"):
        raise TypeError(f"hvp: v{path} must be real numbers, got {getattr(v, 'dtype', type(v))}")
    return [v]


def hvp(fun: Callable) -> Callable:
    """Turn ``fun(params, *args)`` into ``f(params, v, *args) -> H v``, exactly.

    ``H`` is the Hessian of ``fun`` at ``params``, ``v`` a tree shaped like ``params``.
    Computed by double backward: with ``g(w) = grad fun(w)`` recorded as a graph,
    ``H v = grad_w <g(w), v>``. Costs about two gradient evaluations.
    """

    def hvp_fun(params: Any, v: Any, *args: Any, **kwargs: Any) -> Any:
        out, inputs, structure = _traced_call(fun, params, args, kwargs)
        _check_scalar(out)
        v_leaves = _match_params(v, params)
        if not isinstance(out, Tensor):
            return tree_unflatten(structure, _zeros_where_missing([None] * len(inputs), inputs))
        with enable_grad():
            grads = backprop(out, inputs, create_graph=True)
            dot = None
            for g, vi in zip(grads, v_leaves):
                if g is not None:
                    term = sum_reduce(mul(g, vi))
                    dot = term if dot is None else add(dot, term)
        if not isinstance(dot, Tensor):  # the gradient is constant: the Hessian is zero
            hv = [None] * len(inputs)
        else:
            hv = backprop(dot, inputs)
        return tree_unflatten(structure, _zeros_where_missing(hv, inputs))

    return hvp_fun
