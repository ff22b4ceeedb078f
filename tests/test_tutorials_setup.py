"""The tutorials can be opened as the README says: the index lists every notebook, and
the ``tutorials`` extra of pyproject.toml installs every package a notebook imports."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11")

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))

# import name -> distribution name, where the two differ
DISTRIBUTION = {"sklearn": "scikit-learn", "PIL": "pillow", "IPython": "ipython"}


def _requirement_name(requirement: str) -> tuple[str, set[str]]:
    """``"minimsam[cli,torch]"`` -> ``("minimsam", {"cli", "torch"})``; versions dropped."""
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?", requirement)
    assert match, f"cannot read the requirement {requirement!r}"
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return match.group(1).lower().replace("_", "-"), extras


def extra_distributions(extra: str) -> set[str]:
    """Every distribution installed with an extra: the core dependencies and what the
    extra names, following ``minimsam[...]`` references."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_requirement_name(r)[0] for r in project["dependencies"]}
    extras, todo, seen = project["optional-dependencies"], [extra], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in extras[current]:
            name, sub = _requirement_name(requirement)
            if name == project["name"]:
                todo.extend(sub)
            else:
                names.add(name)
    return names


def notebook_imports(path: Path) -> set[str]:
    """Top-level names of the modules the code cells import (``a.b`` -> ``a``)."""
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    # IPython magic lines (%load_ext, %%needs torch) are not Python; the code under them is
    lines = [line for cell in code for line in cell.splitlines() if not line.startswith("%")]
    tree = ast.parse("\n".join(lines))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_index_links_every_notebook(notebook):
    index = (TUTORIALS / "README.md").read_text()
    assert f"]({notebook.name})" in index, f"add a row for {notebook.name} to tutorials/README.md"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorials_extra_installs_every_import(notebook):
    provided = extra_distributions("tutorials")
    third_party = notebook_imports(notebook) - set(sys.stdlib_module_names) - {"minimsam"}
    needed = {DISTRIBUTION.get(m, m).lower().replace("_", "-") for m in third_party}
    missing = sorted(needed - provided)
    assert not missing, f"add {missing} to the tutorials extra in pyproject.toml"


def test_the_extra_reader_sees_nested_extras():
    # the control for the test above: torch comes only through minimsam[torch]
    assert {"torch", "matplotlib", "autograd", "ipywidgets"} <= extra_distributions("tutorials")
    assert "torch" not in extra_distributions("cli")
