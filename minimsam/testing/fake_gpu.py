"""A strict fake GPU: NumPy underneath, CuPy's host/device rules on top.

Why this exists. CI machines have no GPU, so the ``cupy`` backend never runs there, yet
the commonest GPU bug is invisible on NumPy: code that quietly mixes a device array with
a host ``numpy.ndarray`` (``w - np_grad``), or converts a device array with
``np.asarray(w)``. CuPy refuses both with a ``TypeError``; NumPy happily does either.
The ``fakegpu`` backend makes such code fail on the CPU the way it would fail on a GPU.

The rules, as in CuPy:

* ``StrictArray`` wraps a private ``numpy.ndarray`` and is *not* one. ``np.asarray(a)``
  raises; ``a.get()`` (or ``ms.to_numpy(a)``) is the explicit device -> host copy, and
  ``xp.asarray(host)`` (or ``ms.asarray(host)``) the explicit host -> device copy.
* Operators and ``xp.*`` functions accept StrictArrays, Python scalars and NumPy scalars
  (``np.float32(2.0)``), and raise ``TypeError`` for any host ``numpy.ndarray`` operand,
  0-d ones included. Results are StrictArrays; reductions give 0-d arrays, not scalars.
  One exception, copied from CuPy: a 0-d host array on the *left* of a comparison
  (``np.array(1.0) < a``) counts as a scalar, because NumPy hands ``np.float32(1.0) < a``
  over in that form.
* NumPy functions called on a StrictArray (``np.exp(a)``) dispatch to the device, as
  CuPy's ``__array_ufunc__``/``__array_function__`` do, under the same refusal rule.
* ``a.item()`` and ``bool(a)`` on one-element arrays, ``float(a)`` and ``int(a)`` on 0-d
  ones work: they synchronise with the GPU, which CuPy allows.
* Indices in ``a[i]``, ``a[i] = v`` and ``xp.add.at(a, i, v)`` may be host data (ints,
  lists, NumPy integer/boolean arrays): CuPy uploads them itself. The values ``v`` may
  not be host arrays.

Deliberately lenient: Python lists are accepted wherever NumPy accepts them (CuPy refuses
most), and dtype promotion is NumPy's.

Counting kernels. On a GPU every array operation is a kernel launch with a fixed cost,
so the launches of a step are a measure of its cost that needs no GPU. Inside
``with count_kernels() as counter:``, ``counter.launches`` counts the launches CuPy would
make, ``counter.syncs`` the device -> host reads that wait for the GPU:

* each operator, ``xp.*`` function, ufunc and array method that computes an array is one
  launch (in-place ones and ``a[i] = v`` included); those that return a view of their
  input (``reshape``, basic slicing, ``.T``, ``astype(..., copy=False)`` of the same
  dtype), metadata and ``xp.empty`` launch nothing;
* each function of :mod:`minimsam.kernels` counts as the CUDA version launches
  (:data:`CUPY_KERNEL_LAUNCHES`): one per fused kernel, whatever array code the
  reference version runs; with mixed dtypes the CUDA version falls back to the array
  code, and so does the count;
* ``.get()``, ``float()``, ``int()``, ``bool()``, ``.item()`` and ``.tolist()`` are syncs.

Host -> device uploads (``xp.asarray(host)``) are neither.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from functools import partial
from types import ModuleType
from typing import Any

import numpy as np

from minimsam.backend import Backend
from minimsam.kernels import Kernels, array_kernels

__all__ = ["CUPY_KERNEL_LAUNCHES", "KernelCounter", "StrictArray", "count_kernels",
           "make_backend", "xp"]  # fmt: skip

_SCALARS = (int, float, complex, np.generic)
# Attributes that would hand out the host buffer itself; CuPy's have no host meaning.
_HOST_ONLY = frozenset({"data", "ctypes", "flat"})


def _host_array_error(fn: Any) -> TypeError:
    name = getattr(fn, "__name__", None) or repr(fn)
    return TypeError(
        f"{name}: got a host numpy.ndarray where a device (fakegpu) array is needed; "
        "CuPy raises here too. Move it explicitly with ms.asarray(x) or xp.asarray(x)."
    )


def _unwrap(x: Any, fn: Any, strict: bool = True) -> Any:
    """Replace StrictArrays by their data, through lists, tuples and dicts.

    With ``strict``, a host ``numpy.ndarray`` anywhere in ``x`` is an error.
    """
    if isinstance(x, StrictArray):
        return x._data
    if isinstance(x, np.ndarray):
        if strict:
            raise _host_array_error(fn)
        return x
    if isinstance(x, tuple):
        return tuple([_unwrap(v, fn, strict) for v in x])
    if isinstance(x, list):
        return [_unwrap(v, fn, strict) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v, fn, strict) for k, v in x.items()}
    return x


def _wrap(x: Any) -> Any:
    """Turn NumPy results into device results: arrays and NumPy scalars become StrictArrays."""
    if isinstance(x, np.ndarray):
        return StrictArray(x)
    if isinstance(x, np.generic):  # CuPy reductions return 0-d arrays, not scalars
        return StrictArray(np.asarray(x))
    if isinstance(x, tuple):
        items = [_wrap(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else tuple(items)  # namedtuples
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    if isinstance(x, (np.random.Generator, np.random.RandomState)):
        return _Proxy(x)
    return x


# ----------------------------------------------------------------------------- kernel counter


@dataclass(eq=False)  # counters are told apart by identity
class KernelCounter:
    """Kernel launches and host syncs counted inside :func:`count_kernels`."""

    launches: int = 0
    syncs: int = 0


_COUNTERS: list[KernelCounter] = []
_PAUSED = [0]  # > 0 inside a minimsam.kernels function: it counts as its CUDA version


@contextlib.contextmanager
def count_kernels() -> Iterator[KernelCounter]:
    """Count the fakegpu launches and syncs of the ``with`` block (nested blocks all count)."""
    counter = KernelCounter()
    _COUNTERS.append(counter)
    try:
        yield counter
    finally:
        _COUNTERS.remove(counter)


def _count(launches: int = 0, syncs: int = 0) -> None:
    if _COUNTERS and not _PAUSED[0]:
        for counter in _COUNTERS:
            counter.launches += launches
            counter.syncs += syncs


_NO_KERNEL = frozenset({np.empty, np.empty_like})


def _count_result(fn: Any, args: tuple, kwargs: dict, result: Any) -> None:
    """One launch if ``fn`` computed an array, none if it returned a view or metadata."""
    if not _COUNTERS or _PAUSED[0] or fn in _NO_KERNEL:
        return
    first = result[0] if isinstance(result, tuple) and result else result
    if not isinstance(first, (np.ndarray, np.generic)):
        return
    if "out" not in kwargs and isinstance(first, np.ndarray):
        inputs = [getattr(fn, "__self__", None), *args]
        if any(
            a is first or (first.base is not None and isinstance(a, np.ndarray)
                           and np.may_share_memory(first, a))
            for a in inputs
        ):  # fmt: skip
            return  # the input itself or a view of it: no kernel
    _count(launches=1)


def _apply(fn: Any, args: tuple, kwargs: dict) -> Any:
    """Call the NumPy ``fn`` on unwrapped arguments and wrap what it returns."""
    if not kwargs:  # the common case, kept short
        unwrapped = _unwrap(args, fn)
        result = fn(*unwrapped)
        _count_result(fn, unwrapped, kwargs, result)
        return _wrap(result)
    unwrapped = _unwrap(args, fn)
    result = fn(*unwrapped, **_unwrap(kwargs, fn))
    _count_result(fn, unwrapped, kwargs, result)
    out = kwargs.get("out")
    if out is None:
        return _wrap(result)
    return out[0] if isinstance(out, tuple) and len(out) == 1 else out  # keep identity


def _scalar_if_0d(x: Any) -> Any:
    return x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else x


def _operand(other: Any, fn: Any) -> Any:
    """The NumPy value to use for ``other`` in an operator, or NotImplemented."""
    if isinstance(other, StrictArray):
        return other._data
    if isinstance(other, np.ndarray):
        raise _host_array_error(fn)
    # Unknown types (lists, autodiff Tensors) get a chance to handle the reflected op.
    return other if isinstance(other, _SCALARS) else NotImplemented


class StrictArray:
    """A device array of the fake GPU: a NumPy array that refuses to meet the host.

    Make one with ``xp.asarray(host_data)``; the constructor wraps ``data`` without copying.
    """

    __slots__ = ("_data",)
    __array_priority__ = 100  # CuPy's value (a legacy hint; __array_ufunc__ decides)
    __hash__ = None  # mutable, like ndarray

    def __init__(self, data: np.ndarray):
        self._data = data

    # -- the host boundary
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed (CuPy refuses it too). "
            "Use .get() or ms.to_numpy(x) to copy a fakegpu array to the host explicitly."
        )

    def get(self) -> np.ndarray:
        """Explicit device -> host copy (``cupy.ndarray.get``)."""
        _count(syncs=1)
        return self._data.copy()

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if ufunc in _COMPARISON_UFUNCS:
            # NumPy turns the scalar of ``np.float32(1) < a`` into a 0-d array before we see
            # it (numpy/numpy#12142); CuPy then takes any 0-d host array as a scalar. So do we.
            inputs = tuple([_scalar_if_0d(x) for x in inputs])
        if method == "at":
            return _ufunc_at(ufunc, *inputs)
        return _apply(ufunc if method == "__call__" else getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return _apply(func, args, kwargs)

    # -- metadata
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @shape.setter
    def shape(self, value: tuple[int, ...]) -> None:
        self._data.shape = value

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def T(self) -> StrictArray:
        return StrictArray(self._data.T)

    def __getattr__(self, name: str) -> Any:
        # Private and special names never reach the ndarray: NumPy probes for
        # __array_interface__ & co. and would otherwise read the host buffer.
        if name.startswith("_") or name in _HOST_ONLY:
            raise AttributeError(f"StrictArray has no attribute {name!r} (use .get() for host)")
        value = getattr(self._data, name)
        return _Proxy(value) if callable(value) else _wrap(value)

    # -- Python protocols
    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self):
        return map(_wrap, self._data)

    def __getitem__(self, key: Any) -> Any:
        result = self._data[_index(key)]
        if not (isinstance(result, np.ndarray) and np.may_share_memory(result, self._data)):
            _count(launches=1)  # advanced indexing gathers; basic slicing is a view
        return _wrap(result)

    def __setitem__(self, key: Any, value: Any) -> None:
        _count(launches=1)
        self._data[_index(key)] = _unwrap(value, self.__setitem__)

    def __bool__(self) -> bool:
        _count(syncs=1)
        return bool(self._data)

    def __float__(self) -> float:
        _count(syncs=1)
        return float(self._data)

    def __int__(self) -> int:
        _count(syncs=1)
        return int(self._data)

    def __complex__(self) -> complex:
        _count(syncs=1)
        return complex(self._data)

    def __repr__(self) -> str:
        body = repr(self._data).replace("\n", "\n" + " " * len("Strict"))  # keep alignment
        return body.replace("array", "StrictArray", 1)

    def __str__(self) -> str:
        return str(self._data)

    def __format__(self, spec: str) -> str:
        return format(self._data, spec)

    def __copy__(self) -> StrictArray:
        return StrictArray(self._data.copy())

    def __deepcopy__(self, memo: dict) -> StrictArray:
        return StrictArray(self._data.copy())

    def __reduce__(self) -> tuple:
        return StrictArray, (self._data,)


def _index(key: Any) -> Any:
    """Unwrap an index; host ints, lists and NumPy index arrays are fine (CuPy uploads them)."""
    if isinstance(key, StrictArray):
        return key._data
    if isinstance(key, tuple):
        return tuple([k._data if isinstance(k, StrictArray) else k for k in key])
    return key


def _ufunc_at(ufunc: np.ufunc, a: Any, indices: Any, *b: Any) -> None:
    """``ufunc.at(a, indices, b)``, in place. Indices may live on the host, as in ``a[i]``."""
    _count(launches=1)
    ufunc.at(_unwrap(a, ufunc.at), _index(indices), *_unwrap(b, ufunc.at))


# ----------------------------------------------------------------------------- operators


def _binary(ufunc: np.ufunc, reflected: bool = False):
    def op(self: StrictArray, other: Any) -> Any:
        other = _operand(other, ufunc)
        if other is NotImplemented:
            return NotImplemented
        _count(launches=1)
        return _wrap(ufunc(other, self._data) if reflected else ufunc(self._data, other))

    return op


def _inplace(ufunc: np.ufunc):
    def op(self: StrictArray, other: Any) -> Any:
        other = _operand(other, ufunc)
        if other is NotImplemented:
            return NotImplemented
        _count(launches=1)
        ufunc(self._data, other, out=self._data)
        return self

    return op


def _unary(ufunc: np.ufunc):
    def op(self: StrictArray) -> StrictArray:
        _count(launches=1)
        return _wrap(ufunc(self._data))

    return op


def _method(name: str):
    def method(self: StrictArray, *args: Any, **kwargs: Any) -> Any:
        if name in _SYNC_METHODS:
            _count(syncs=1)
        return _apply(getattr(self._data, name), args, kwargs)

    method.__name__ = name
    method.__doc__ = f"``numpy.ndarray.{name}`` on the device."
    return method


_ARITHMETIC = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "truediv": np.true_divide,
    "floordiv": np.floor_divide,
    "mod": np.remainder,
    "pow": np.power,
    "matmul": np.matmul,
    "and": np.bitwise_and,
    "or": np.bitwise_or,
    "xor": np.bitwise_xor,
}
_COMPARISONS = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}
_COMPARISON_UFUNCS = frozenset(_COMPARISONS.values())
_UNARY = {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}
# Hot methods get real definitions; anything else goes through __getattr__.
_SYNC_METHODS = frozenset({"item", "tolist"})
_METHODS = (
    "all any argmax argmin astype clip copy cumsum dot fill flatten item max mean min "
    "nonzero prod ravel repeat reshape round squeeze std sum swapaxes take tolist transpose var"
).split()

for _name, _ufunc in _ARITHMETIC.items():
    setattr(StrictArray, f"__{_name}__", _binary(_ufunc))
    setattr(StrictArray, f"__r{_name}__", _binary(_ufunc, reflected=True))
    setattr(StrictArray, f"__i{_name}__", _inplace(_ufunc))
for _name, _ufunc in _COMPARISONS.items():
    setattr(StrictArray, f"__{_name}__", _binary(_ufunc))
for _name, _ufunc in _UNARY.items():
    setattr(StrictArray, f"__{_name}__", _unary(_ufunc))
for _name in _METHODS:
    setattr(StrictArray, _name, _method(_name))


# ----------------------------------------------------------------------------- xp namespace


class _Proxy:
    """A NumPy callable or object (function, ufunc, bound method, Generator) on the device.

    Calling it, or any method of it (``xp.add.at``, ``rng.normal``), unwraps StrictArray
    arguments, refuses host arrays and wraps the results.
    """

    __slots__ = ("_target",)

    def __init__(self, target: Any):
        self._target = target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _apply(self._target, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "_target":  # not yet set (copy/pickle): avoid infinite recursion
            raise AttributeError(name)
        if name == "at" and isinstance(self._target, np.ufunc):
            return partial(_ufunc_at, self._target)
        value = getattr(self._target, name)
        return _Proxy(value) if callable(value) and not isinstance(value, type) else _wrap(value)

    def __repr__(self) -> str:
        return f"<fakegpu {self._target!r}>"


class _Module(ModuleType):
    """``numpy`` (or one of its submodules) seen through the fake GPU.

    Functions become :class:`_Proxy` objects; classes (dtypes, ``finfo``), constants and
    ``None`` (``newaxis``) pass through unchanged, as CuPy re-exports NumPy's.
    """

    def __init__(self, target: ModuleType, name: str, overrides: dict | None = None):
        super().__init__(name, target.__doc__)
        self._target = target
        self.__dict__.update(overrides or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self._target, name)
        if isinstance(value, ModuleType):
            value = _Module(value, f"{self.__name__}.{name}")
        elif callable(value) and not isinstance(value, type):
            value = _Proxy(value)
        setattr(self, name, value)  # cache: the next look-up skips __getattr__
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._target)) | set(self.__dict__))


def _creation(fn: Any):
    """``xp.asarray`` and friends: the one door from host data to the device."""

    def create(obj: Any, *args: Any, **kwargs: Any) -> StrictArray:
        if isinstance(obj, StrictArray) and fn is np.asarray and not args and not kwargs:
            return obj
        data = fn(_unwrap(obj, fn, strict=False), *args, **kwargs)
        if isinstance(obj, np.ndarray) and np.may_share_memory(data, obj):
            data = data.copy()  # a real upload never aliases the host buffer
        return StrictArray(data)

    create.__name__ = fn.__name__
    create.__doc__ = f"``numpy.{fn.__name__}``, copying host data to the fake device."
    return create


xp = _Module(
    np,
    __name__ + ".xp",
    {
        "ndarray": StrictArray,
        "asarray": _creation(np.asarray),
        "array": _creation(np.array),
        "ascontiguousarray": _creation(np.ascontiguousarray),
    },
)


def _to_host(x: Any) -> np.ndarray:
    return x.get() if isinstance(x, StrictArray) else np.asarray(x)


# ----------------------------------------------------------------------------- kernels


def _one(*args: Any) -> int:
    return 1


#: The launches of each :mod:`minimsam.kernels` function on CuPy (``cupy_kernels``) when
#: its arrays share one dtype: one fused kernel, except ``sumsq`` over n arrays, which is
#: n reductions and one kernel adding the partial sums.
CUPY_KERNEL_LAUNCHES: dict[str, Callable[..., int]] = {
    "axpy": _one,
    "sumsq": lambda arrays: len(arrays) + (len(arrays) > 1),
    "sumsq_segments": _one,
    "over_norm": _one,
    "dot": _one,
    "relu_grad": _one,
    "xent_grad": _one,
}


def _fused(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` counted as CuPy's fused version (its array code runs uncounted)."""

    def counted(*args: Any) -> Any:
        arrays = args[0] if name == "sumsq" else args
        dtypes = {a.dtype for a in arrays if isinstance(a, StrictArray)}
        uses_kernel = len(dtypes) <= 1 and not (name == "over_norm" and hasattr(args[0], "dtype"))
        if not uses_kernel:
            return fn(*args)  # CuPy falls back to the array code here too
        _count(launches=CUPY_KERNEL_LAUNCHES[name](*args))
        _PAUSED[0] += 1
        try:
            return fn(*args)
        finally:
            _PAUSED[0] -= 1

    counted.__name__ = counted.__qualname__ = fn.__qualname__
    counted.__doc__ = fn.__doc__
    return counted


def _counted_kernels() -> Kernels:
    reference = array_kernels(xp)
    return Kernels(**{f.name: _fused(f.name, getattr(reference, f.name)) for f in fields(Kernels)})


def make_backend() -> Backend:
    """The ``fakegpu`` backend: ``xp`` mirrors NumPy, arrays are :class:`StrictArray`."""
    return Backend(
        name="fakegpu",
        xp=xp,
        array_type=StrictArray,
        to_host=_to_host,
        from_host=xp.asarray,
        kernels=_counted_kernels(),
    )
