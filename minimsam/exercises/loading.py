"""Load a student's step function from a file: ``path/to/solution.py[:function]``.

The file is imported as a fresh module under a private name (so two students' files
named ``msam.py`` never share a module), with its folder on ``sys.path`` for the time
of the import, so it may import its own helper modules. Every failure is a
``ValueError`` with one line naming the file and what to fix.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["load_function", "split_spec"]

_counter = itertools.count()


def split_spec(spec: str, default: str) -> tuple[Path, str]:
    """``"dir/file.py:func"`` -> ``(Path("dir/file.py"), "func")``; no ``:func``: ``default``."""
    path, sep, name = str(spec).rpartition(":")
    if sep and name.isidentifier() and path:
        return Path(path), name
    return Path(spec), default


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


def load_function(spec: str | Path, default: str) -> Callable:
    """The function named in ``spec`` (``file.py`` or ``file.py:function``), imported fresh."""
    path, name = split_spec(str(spec), default)
    if path.is_dir():
        path = path / f"{default.removesuffix('_step')}.py"
    if not path.is_file():
        raise ValueError(f"no solution file {str(path)!r}: give path/to/solution.py[:function]")
    module_name = f"_minimsam_solution_{next(_counter)}_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"cannot import {str(path)!r}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # the student's file: any error is theirs, reported in one line
        raise ValueError(f"importing {str(path)!r} failed: {_one_line(err)}") from None
    finally:
        sys.path.remove(folder)
    function = getattr(module, name, None)
    if not callable(function):
        found = sorted(k for k, v in vars(module).items() if callable(v) and k.endswith("_step"))
        hint = f" (it has {', '.join(found)}; use {path}:NAME)" if found else ""
        raise ValueError(f"{str(path)!r} has no function {name!r}{hint}")
    return function
