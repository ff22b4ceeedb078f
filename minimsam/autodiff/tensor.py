"""The tape: ``Tensor``, ``Function`` and reverse-mode backpropagation.

A :class:`Tensor` wraps an array of the active backend. Calling a :class:`Function`
on tensors computes its ``forward`` on the raw arrays and, while gradients are
enabled, records itself as the ``creator`` of the result. ``backprop`` then walks
the recorded graph from the output back to the inputs in reverse topological
order, applying the chain rule

    dL/dx_i  =  sum over uses of x_i of  backward(dL/dy)_i .

Every ``backward`` is written with the same differentiable ops as the forward
passes, so one code path serves two purposes:

* first-order gradients: ``backward`` receives raw arrays, the ops take their fast
  path (raw arrays in, raw arrays out) and nothing is recorded;
* second-order gradients (``create_graph=True``, used by :func:`minimsam.hvp`):
  ``backward`` receives tensors, so the backward pass is itself recorded and can
  be differentiated again.

An op called with no tensor among its inputs simply returns a raw array. This is
what lets a model be called on plain arrays for evaluation.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from minimsam.backend import get_backend

__all__ = ["Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "backprop"]

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether ops on tensors currently record themselves for backpropagation."""
    return _grad_enabled


@contextlib.contextmanager
def _set_grad_enabled(mode: bool) -> Iterator[None]:
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, mode
    try:
        yield
    finally:
        _grad_enabled = previous


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Context in which no graph is recorded (evaluation, optimizer arithmetic)."""
    return _set_grad_enabled(False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """Context in which graph recording is on, even inside ``no_grad``."""
    return _set_grad_enabled(True)


class Tensor:
    """An array of the active backend that remembers the op that created it.

    ``data`` is the raw array, ``creator`` the :class:`Function` that produced it
    (``None`` for leaves), ``requires_grad`` whether gradients flow to it, and
    ``grad`` is filled in by :meth:`backward` for leaves that require gradients.
    """

    __slots__ = ("data", "creator", "requires_grad", "grad", "name", "__weakref__")
    __array_priority__ = 1000  # make ``ndarray + Tensor`` call Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            raise TypeError("Tensor(data) expects an array, got a Tensor; use the tensor itself")
        self.data = get_backend().check(data, what="Tensor data")
        self.creator: Function | None = None
        self.requires_grad = requires_grad
        self.grad: Any = None
        self.name = name

    # ------------------------------------------------------------------ array-like attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return getattr(self.data, "shape", ())

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(getattr(self.data, "size", 1))

    @property
    def dtype(self) -> Any:
        return getattr(self.data, "dtype", None)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        label = f", name={self.name!r}" if self.name else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad}{label})"

    def item(self) -> float:
        """The value of a one-element tensor as a Python number (a host sync on GPUs)."""
        return self.data.item()

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this tensor's data, cut off from the graph."""
        return Tensor(self.data)

    def backward(self, gy: Any = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gy`` is the upstream gradient (default: ones, so ``self`` should be a scalar).
        """
        leaves = _leaves(self)
        grads = backprop(self, leaves, gy, create_graph=create_graph)
        for leaf, g in zip(leaves, grads):
            if g is None:
                continue
            leaf.grad = g if leaf.grad is None else leaf.grad + g


class Function:
    """One differentiable op: ``forward`` on raw arrays, ``backward`` with ops.

    Subclasses implement

    * ``forward(self, *xs) -> y`` on raw backend arrays, saving on ``self`` any
      non-array attributes (shapes, axes) that ``backward`` needs;
    * ``backward(self, gy, xs, y) -> tuple`` giving ``dL/dx_i`` for each input, given
      the upstream gradient ``gy = dL/dy``, the inputs ``xs`` and the output ``y``
      (raw arrays or tensors, see the module docstring). Entries may be ``None``
      where ``self.needs_grad[i]`` is false.
    """

    inputs: tuple[Tensor, ...]
    needs_grad: tuple[bool, ...]
    output: weakref.ReferenceType[Tensor]
    generation: int

    def __call__(self, *inputs: Any) -> Any:
        if not any(isinstance(x, Tensor) for x in inputs):
            return self.forward(*inputs)  # fast path: plain arrays, nothing recorded
        tensors = tuple(x if isinstance(x, Tensor) else Tensor(x) for x in inputs)
        y = Tensor(self.forward(*(t.data for t in tensors)))
        if _grad_enabled and any(t.requires_grad for t in tensors):
            self.inputs = tensors
            self.needs_grad = tuple(t.requires_grad for t in tensors)
            self.generation = 1 + max(
                (t.creator.generation for t in tensors if t.creator is not None), default=0
            )
            self.output = weakref.ref(y)
            y.creator = self
            y.requires_grad = True
        return y

    def forward(self, *xs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, gy: Any, xs: Sequence[Any], y: Any) -> tuple[Any, ...]:  # pragma: no cover
        raise NotImplementedError


# ---------------------------------------------------------------------------- backpropagation


def _functions_in_graph(root: Tensor) -> list[Function]:
    """Every function that ``root`` depends on, latest (highest generation) first."""
    seen: set[int] = set()
    stack = [root.creator] if root.creator is not None else []
    functions = []
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        functions.append(f)
        stack.extend(t.creator for t in f.inputs if t.creator is not None)
    functions.sort(key=lambda f: f.generation, reverse=True)
    return functions


def _leaves(root: Tensor) -> list[Tensor]:
    """The leaf tensors with ``requires_grad`` that ``root`` depends on (root too if a leaf)."""
    if root.creator is None:
        return [root] if root.requires_grad else []
    leaves: dict[int, Tensor] = {}
    for f in _functions_in_graph(root):
        for t in f.inputs:
            if t.creator is None and t.requires_grad:
                leaves[id(t)] = t
    return list(leaves.values())


def backprop(
    output: Tensor, wrt: Sequence[Tensor], gy: Any = None, create_graph: bool = False
) -> list[Any]:
    """Gradients of ``output`` with respect to each tensor in ``wrt``.

    Returns one entry per tensor: a raw array, or a :class:`Tensor` recorded for
    further differentiation when ``create_graph`` is true, or ``None`` where
    ``output`` does not depend on that tensor. ``gy`` is the upstream gradient
    (default: ones like ``output``).
    """
    xp = get_backend().xp
    if gy is None:
        gy = xp.ones_like(output.data)
    elif isinstance(gy, Tensor) and not create_graph:
        gy = gy.data
    if create_graph and not isinstance(gy, Tensor):
        gy = Tensor(gy)
    grads: dict[int, Any] = {id(output): gy}
    wanted = {id(t) for t in wrt}
    found: dict[int, Any] = {id(output): gy} if id(output) in wanted else {}

    with _set_grad_enabled(create_graph):
        for f in _functions_in_graph(output):
            y = f.output()
            g = grads.pop(id(y), None) if y is not None else None
            if g is None:
                continue
            if create_graph:
                xs, y_arg = f.inputs, y
            else:
                xs, y_arg = tuple(t.data for t in f.inputs), y.data
            gxs = f.backward(g, xs, y_arg)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            for x, needs, gx in zip(f.inputs, f.needs_grad, gxs):
                if not needs or gx is None:
                    continue
                key = id(x)
                if x.creator is not None:
                    grads[key] = grads[key] + gx if key in grads else gx
                if key in wanted:
                    found[key] = found[key] + gx if key in found else gx
    return [found.get(id(t)) for t in wrt]
