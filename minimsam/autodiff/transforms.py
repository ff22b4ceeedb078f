"""Function transformations: ``value_and_grad``, ``grad`` and ``hvp``.

They differentiate a Python function with respect to its first argument, which may
be an array or a (nested) dict / list / tuple of arrays (a "tree", such as the
parameter dict of a model). Gradients come back with the same structure, as plain
arrays of the active backend.

Conventions, stated once:

* the function must return a scalar (an array with one element); anything else is a
  ``ValueError`` naming the shape (use ``has_aux=True`` to return extras alongside);
* a parameter that does not influence the value gets an all-zero gradient;
* a gradient has its parameter's dtype and shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from minimsam.autodiff.elementwise import add, mul
from minimsam.autodiff.reductions import sum as sum_reduce
from minimsam.autodiff.tensor import Tensor, backprop, enable_grad
from minimsam.backend import get_backend

__all__ = ["value_and_grad", "grad", "hvp", "tree_flatten", "tree_unflatten"]


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


def _traced_call(fun: Callable, params: Any, args: tuple, kwargs: dict) -> tuple:
    """Call ``fun`` with every leaf of ``params`` wrapped in a Tensor that requires grad."""
    backend = get_backend()
    leaves, structure = tree_flatten(params)
    inputs = [Tensor(backend.check(x, what="parameter"), requires_grad=True) for x in leaves]
    with enable_grad():
        out = fun(tree_unflatten(structure, inputs), *args, **kwargs)
    return out, inputs, structure


def _check_scalar(value: Any) -> None:
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


def hvp(fun: Callable) -> Callable:
    """Turn ``fun(params, *args)`` into ``f(params, v, *args) -> H v``, exactly.

    ``H`` is the Hessian of ``fun`` at ``params``, ``v`` a tree shaped like ``params``.
    Computed by double backward: with ``g(w) = grad fun(w)`` recorded as a graph,
    ``H v = grad_w <g(w), v>``. Costs about two gradient evaluations.
    """

    def hvp_fun(params: Any, v: Any, *args: Any, **kwargs: Any) -> Any:
        out, inputs, structure = _traced_call(fun, params, args, kwargs)
        _check_scalar(out)
        v_leaves, _ = tree_flatten(v)
        if len(v_leaves) != len(inputs):
            raise ValueError("hvp: v must have the same structure as params")
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
