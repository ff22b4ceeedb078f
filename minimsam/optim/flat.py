"""Params-like vectors held in one flat buffer, so that each equation is one array operation.

The optimizers treat the params as one vector (every norm is global), but a model holds
them as many tensors. Applied tensor by tensor, each equation of a step is one array
operation per tensor: on a GPU one kernel launch per tensor, which bounds the step of a
network with many small tensors by its launches. A :class:`Flat` holds one params-like
vector (``w``, ``v``, ``g``, ``m``, ``s``) as one contiguous 1-D buffer per dtype (params
keep their dtypes, so float32 and float64 params make two buffers) and is read as the
dict ``{name: view of the buffer}``. An equation is then one operation per buffer,
whatever the number of tensors. Elementwise equations give every entry exactly the
number of the per-tensor form: the same operations on the same values.

- :func:`gather` copies a dict of arrays into a Flat: one copy (one launch) per buffer;
- a step returns the views of its Flats as its dicts, and :class:`LastOutputs` remembers
  them: handed the very dicts and arrays the last step returned, the next step takes the
  buffers back without copying. Views share memory with their buffer, so a change made
  in place to a returned array is seen by the next step, as it would be per tensor.

Where it pays. On a device each operation costs a launch, and a step on Flats launches
the same number of kernels whatever the number of tensors. On the host each operation
costs its memory traffic, which is the same either way, and for a model of a few large
tensors the bookkeeping of the buffers (copying the gradient in, the views) costs more
than the per-tensor calls it saves; so ``Optimizer.step`` uses Flats on a device and
plain dicts on the host (``minimsam.optim.base``). Both run the same equations with the
same helpers, entry for entry the same numbers.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from minimsam.backend import get_backend

__all__ = [
    "Flat",
    "LastOutputs",
    "Layout",
    "gather",
    "last_outputs",
    "layout_of",
]


@dataclass(frozen=True)
class Layout:
    """Where each named tensor of a params-like vector lives in the buffers.

    ``spans[i] = (buffer, start, stop)`` places ``keys[i]`` (shape ``shapes[i]``) at
    ``buffers[buffer][start:stop]``; ``dtypes[b]`` is buffer ``b``'s dtype and
    ``members[b]`` the indices of its keys, in key order.
    """

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[Any, ...]
    spans: tuple[tuple[int, int, int], ...]
    members: tuple[tuple[int, ...], ...]

    views: tuple[tuple[str, int, slice, tuple[int, ...]], ...]
    """``(key, buffer, slice, shape)`` of each tensor, in key order."""

    @property
    def sizes(self) -> tuple[tuple[int, ...], ...]:
        """The lengths of the segments of each buffer, in order."""
        return tuple(tuple(self.spans[i][2] - self.spans[i][1] for i in m) for m in self.members)


_LAYOUTS: dict[tuple, Layout] = {}


def layout_of(tree: Mapping[str, Any]) -> Layout:
    """The layout of a dict of arrays: one buffer per dtype, tensors in key order."""
    signature = tuple((k, x.shape, x.dtype) for k, x in tree.items())
    layout = _LAYOUTS.get(signature)
    if layout is None:
        layout = _LAYOUTS[signature] = _build_layout(signature)
    return layout


def _build_layout(signature: tuple) -> Layout:
    dtypes = tuple(dict.fromkeys(dtype for _, _, dtype in signature))
    ends = [0] * len(dtypes)
    spans, members = [], [[] for _ in dtypes]
    for i, (_, shape, dtype) in enumerate(signature):
        b = dtypes.index(dtype)
        size = _prod(shape)
        spans.append((b, ends[b], ends[b] + size))
        members[b].append(i)
        ends[b] += size
    keys, shapes = tuple(k for k, _, _ in signature), tuple(s for _, s, _ in signature)
    return Layout(
        keys=keys,
        shapes=shapes,
        dtypes=dtypes,
        spans=tuple(spans),
        members=tuple(tuple(m) for m in members),
        views=tuple(
            (k, b, slice(start, stop), shape)
            for k, (b, start, stop), shape in zip(keys, spans, shapes)
        ),
    )


def _prod(shape: tuple[int, ...]) -> int:
    size = 1
    for n in shape:
        size *= n
    return size


class Flat:
    """A params-like vector: ``layout`` and one 1-D ``buffers`` entry per dtype.

    Read as a dict (a read-only ``Mapping``), ``flat[name]`` is a view of the buffer with
    the param's shape. A buffer may hold a wider dtype than its layout's while an
    equation promotes (a float64 scalar times float32 entries); :meth:`cast` brings it
    back.
    """

    __slots__ = ("layout", "buffers")

    def __init__(self, layout: Layout, buffers: tuple[Any, ...]):
        self.layout = layout
        self.buffers = buffers

    def __getitem__(self, key: str) -> Any:
        try:
            return self._view(self.layout.keys.index(key))
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.layout.keys)

    def __len__(self) -> int:
        return len(self.layout.keys)

    def __contains__(self, key: object) -> bool:
        return key in self.layout.keys

    def keys(self):
        return self.as_dict().keys()

    def values(self):
        return self.as_dict().values()

    def items(self):
        return self.as_dict().items()

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def _view(self, i: int) -> Any:
        b, start, stop = self.layout.spans[i]
        return self.buffers[b][start:stop].reshape(self.layout.shapes[i])

    def as_dict(self) -> dict[str, Any]:
        """``{name: view}``, a new dict (the views share the buffers' memory)."""
        buffers = self.buffers
        return {k: buffers[b][where].reshape(shape) for k, b, where, shape in self.layout.views}

    def segments(self) -> list[Any]:
        """The 1-D view of each tensor, in key order."""
        return [self.buffers[b][where] for _, b, where, _ in self.layout.views]

    def map(self, fn: Callable[..., Any], *others: Flat) -> Flat:
        """``fn`` applied to the buffers of ``self`` and ``others``, buffer by buffer."""
        if not others:
            return Flat(self.layout, tuple(fn(x) for x in self.buffers))
        buffers = zip(self.buffers, *(o.buffers for o in others))
        return Flat(self.layout, tuple(fn(*xs) for xs in buffers))

    def cast(self) -> Flat:
        """The same vector with every buffer in its layout dtype (no copy where it is)."""
        if all(x.dtype == dt for x, dt in zip(self.buffers, self.layout.dtypes)):
            return self
        pairs = zip(self.buffers, self.layout.dtypes)
        return Flat(self.layout, tuple(x if x.dtype == dt else x.astype(dt) for x, dt in pairs))

    def __repr__(self) -> str:
        return f"Flat({self.layout.keys}, {len(self.buffers)} buffer(s))"


Mapping.register(Flat)  # read as a dict; a plain class keeps isinstance(x, Flat) fast


def gather(tree: Mapping[str, Any], layout: Layout) -> Flat:
    """Copy ``tree`` (the keys and shapes of ``layout``) into new buffers, one per dtype.

    Each entry is converted to its buffer's dtype on the way in (a float64 state buffer
    of float32 params becomes float32) and may have any memory layout (a transposed or
    strided view is read as its values, in C order).
    """
    return Flat(layout, _concatenated(list(tree.values()), layout))


def _concatenated(values: list[Any], layout: Layout) -> tuple[Any, ...]:
    xp = get_backend().xp
    buffers = []
    for members, dtype in zip(layout.members, layout.dtypes):
        parts = [values[i].reshape(-1) for i in members]
        buffers.append(xp.concatenate(parts, dtype=dtype, casting="same_kind"))
    return tuple(buffers)


class LastOutputs:
    """The Flats behind the dicts one optimizer's last step returned.

    :meth:`take` gives back the Flat of a dict only if it is the very dict returned,
    holding the very arrays returned (entries replaced, added or removed since are not
    trusted), so the buffers are certainly those the arrays view.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[Mapping[str, Any], tuple[Any, ...], Flat]] = []

    def remember(self, triples: list[tuple[Mapping[str, Any], Flat, Mapping[str, Any]]]) -> None:
        """Remember ``(returned dict, its Flat, the Flat's views)``; a dict whose arrays are
        not those views (a later cast replaced them) is not remembered."""
        self._entries = [
            (d, tuple(d.values()), flat)
            for d, flat, views in triples
            if all(a is b for a, b in zip(d.values(), views.values()))
        ]

    def find(self, tree: Mapping[str, Any]) -> Flat | None:
        """The remembered Flat of ``tree`` if it is a returned dict, unchanged; else None."""
        for d, values, flat in self._entries:
            if d is tree and _same_objects(tree, values, flat.layout):
                return flat
        return None

    def take(self, tree: Mapping[str, Any], layout: Layout) -> Flat:
        """The remembered Flat of ``tree`` if it has ``layout``, or a new copy (:func:`gather`)."""
        flat = self.find(tree)
        return flat if flat is not None and flat.layout is layout else gather(tree, layout)


def _same_objects(tree: Mapping[str, Any], values: tuple[Any, ...], layout: Layout) -> bool:
    if len(tree) != len(values) or tuple(tree) != layout.keys:
        return False
    return all(a is b for a, b in zip(tree.values(), values))


_LAST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def last_outputs(opt: Any) -> LastOutputs:
    """The :class:`LastOutputs` of optimizer ``opt`` (kept outside it: its ``vars`` stay)."""
    memory = _LAST.get(opt)
    if memory is None:
        memory = _LAST[opt] = LastOutputs()
    return memory
