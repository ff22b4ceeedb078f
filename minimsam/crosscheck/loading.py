"""``"package.module:Name"`` -> the object: how the runners find ``--impl`` and ``--adapter``."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable

__all__ = ["load_object", "named_class", "parameters", "signature", "spec_name"]


def load_object(spec: str | Callable) -> Callable:
    """``"package.module:Name"`` (``Name`` may be dotted) -> the object; callables pass."""
    if callable(spec):
        return spec
    module_name, sep, attr = str(spec).partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'package.module:Name', got {spec!r}")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def named_class(spec, base: type, registry: dict, auto: Callable, optimizer: str, kind: str):
    """The class ``spec`` names: a subclass of ``base``, ``"auto"`` (``auto(optimizer)``), a
    name in ``registry``, or ``"module:Class"``; anything else is one line naming the choices."""
    if isinstance(spec, type) and issubclass(spec, base):
        return spec
    if spec == "auto":
        return auto(optimizer)
    if spec in registry:
        return registry[spec]
    if isinstance(spec, str) and ":" in spec:
        return load_object(spec)
    raise ValueError(f"unknown {kind} {spec!r}; use auto, {', '.join(registry)} or module:Class")


def spec_name(impl) -> str:
    """``module:Name`` of a class or function; ``Name(kw=...)`` for a functools.partial."""
    if isinstance(impl, str):
        return impl
    if isinstance(impl, functools.partial):
        keywords = ", ".join(f"{k}={v!r}" for k, v in impl.keywords.items())
        return f"{spec_name(impl.func)}({keywords})"
    if hasattr(impl, "__qualname__"):
        return f"{impl.__module__}:{impl.__qualname__}"
    return repr(impl)


def signature(fn) -> str:
    """``fn``'s signature as text, ``"(...)"`` where Python cannot read it (a builtin)."""
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "(...)"


def parameters(fn) -> list[str] | None:
    """The names of ``fn``'s parameters; None where Python cannot read its signature."""
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None
