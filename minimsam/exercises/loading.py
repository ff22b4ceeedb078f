"""Load a student's step function from a file: ``solution.py[:function]`` or a notebook.

A ``.py`` file is imported as a fresh module under a private name (two students' files
named ``msam.py`` never share a module), with its folder on ``sys.path`` for the time of
the import, so it may import its own helpers.

From an ``.ipynb`` notebook only the *definitions* of its code cells are run, in order:
imports, ``def`` and ``class`` statements, and assignments of literal values (``EPS =
1e-12``). Everything else (figures, the grader cell) is skipped, so a filled-in exercise
notebook can be graded without running it.

Every failure is a ``ValueError`` with one line naming the file and what to fix.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import json
import sys
import types
from collections.abc import Callable
from pathlib import Path

__all__ = ["find_solution", "load_function", "notebook_definitions", "split_spec"]

_counter = itertools.count()
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)


def split_spec(spec: str, default: str) -> tuple[Path, str]:
    """``"dir/file.py:func"`` -> ``(Path("dir/file.py"), "func")``; no ``:func``: ``default``."""
    path, sep, name = str(spec).rpartition(":")
    if sep and name.isidentifier() and path:
        return Path(path), name
    return Path(spec), default


def find_solution(folder: Path, exercise) -> Path | None:
    """In ``folder``: ``<name>.py`` (e.g. ``msam.py``), else the exercise's notebook."""
    for candidate in (folder / exercise.solution_file, folder / exercise.notebook):
        if candidate.is_file():
            return candidate
    return None


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


def _is_definition(node: ast.stmt) -> bool:
    if isinstance(node, _DEFINITIONS):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        try:
            ast.literal_eval(node.value)
        except ValueError:
            return False
        return True
    return False


def notebook_definitions(path: Path) -> str:
    """The source of the definitions in the code cells of the notebook ``path``."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    kept = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        lines = source.splitlines()
        for node in ast.parse(source).body:
            if _is_definition(node):
                start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
                kept.append("\n".join(lines[start - 1 : node.end_lineno]))
    return "\n\n".join(kept) + "\n"


def _module(path: Path) -> types.ModuleType:
    name = f"_minimsam_solution_{next(_counter)}_{path.stem.replace('-', '_')}"
    if path.suffix == ".ipynb":
        module = types.ModuleType(name)
        module.__file__ = str(path)
        exec(compile(notebook_definitions(path), str(path), "exec"), module.__dict__)
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_function(spec: str | Path, default: str) -> Callable:
    """The function named in ``spec`` (``file.py``, ``file.py:function``, ``notebook.ipynb``),
    loaded fresh. ``spec`` may be a folder holding ``<default less _step>.py``."""
    path, name = split_spec(str(spec), default)
    if path.is_dir():
        path = path / f"{default.removesuffix('_step')}.py"
    if not path.is_file():
        raise ValueError(f"no solution file {str(path)!r}: give path/to/solution.py[:function]")
    if path.suffix not in (".py", ".ipynb"):
        raise ValueError(f"cannot import {str(path)!r}: give a .py file or an .ipynb notebook")
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        module = _module(path)
    except Exception as err:  # the student's file: any error is theirs, reported in one line
        raise ValueError(f"loading {str(path)!r} failed: {_one_line(err)}") from None
    finally:
        sys.path.remove(folder)
    function = getattr(module, name, None)
    if not callable(function):
        found = sorted(k for k, v in vars(module).items() if callable(v) and k.endswith("_step"))
        hint = f" (it has {', '.join(found)}; use {path}:NAME)" if found else ""
        raise ValueError(f"{str(path)!r} has no function {name!r}{hint}")
    return function
