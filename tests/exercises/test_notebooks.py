"""The exercise notebooks: a stub with only a signature and a docstring, and, with the
reference solution in place of the stub, a grader cell that passes.

The notebooks as stored (stub unfilled) run under nbmake (pyproject testpaths), where
the grader answers "not implemented yet" without failing the run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from minimsam.exercises import EXERCISES

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2] / "exercises"
NOTEBOOKS = {name: exercise.notebook for name, exercise in EXERCISES.items()}


def tagged_cell(nb, tag):
    cells = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def test_every_exercise_has_a_notebook_and_a_solution():
    assert sorted(p.name for p in ROOT.glob("*.ipynb")) == sorted(NOTEBOOKS.values())
    solutions = sorted(p.name for p in (ROOT / "solutions").glob("*.py"))
    assert solutions == sorted(e.solution_file for e in EXERCISES.values())


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stub_is_a_signature_and_a_docstring(name):
    nb = nbformat.read(ROOT / NOTEBOOKS[name], as_version=4)
    exercise = EXERCISES[name]
    (function,) = ast.parse(tagged_cell(nb, "stub").source).body
    assert isinstance(function, ast.FunctionDef) and function.name == exercise.function
    args = [a.arg for a in function.args.args]
    assert args == ["w", *exercise.state, "grad_fn", *exercise.hyperparameters]
    (body,) = function.body  # nothing but the docstring
    assert isinstance(body, ast.Expr) and isinstance(body.value, ast.Constant)
    assert f'check("{name}", {exercise.function})' in tagged_cell(nb, "grader").source
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "docs/optimizers.md" in nb.cells[0].source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_with_the_reference_solution_passes(name):
    nb = nbformat.read(ROOT / NOTEBOOKS[name], as_version=4)
    solution = ROOT / "solutions" / EXERCISES[name].solution_file
    tagged_cell(nb, "stub").source = solution.read_text()
    nb.cells.append(nbformat.v4.new_code_cell('assert result.status == "pass", result.format()'))
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # raises CellExecutionError if the assert (or any cell) fails
    grader_output = "".join(o.get("text", "") for o in tagged_cell(nb, "grader").outputs)
    assert grader_output.startswith(f"PASS  {name}:"), grader_output
