"""``"package.module:Name"`` -> the object: how the runners find ``--impl`` and ``--adapter``."""

from __future__ import annotations

import importlib
from collections.abc import Callable

__all__ = ["load_object"]


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
