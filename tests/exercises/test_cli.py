"""``minimsam exercise``: exit status 0 on pass and 1 on fail, one JSON line per exercise,
one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minimsam import cli
from minimsam.exercises import EXERCISES

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "exercises" / "solutions"
WRONG = Path(__file__).resolve().parent / "wrong"


def run(capsys, *argv):
    status = cli.main(["exercise", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def json_lines(out):
    return [json.loads(line) for line in out.strip().splitlines()]


def test_all_reference_solutions_pass_as_json_lines(capsys):
    status, out, err = run(capsys, "check", "all", SOLUTIONS, "--json", "--student", "ref")
    assert status == 0, out + err
    lines = json_lines(out)
    assert [d["exercise"] for d in lines] == list(EXERCISES)
    assert all(d["status"] == "pass" and d["student"] == "ref" for d in lines)
    assert all(d["cases_passed"] == d["cases"] > 0 for d in lines)


def test_a_wrong_answer_exits_1_and_names_the_pitfall(capsys):
    status, out, _ = run(capsys, "check", "msam", WRONG / "msam_rho_drift.py", "--json")
    assert status == 1
    (line,) = json_lines(out)
    assert line["status"] == "fail" and line["pitfalls"] == ["rho_drift"]
    assert line["solution"].endswith("msam_rho_drift.py")
    assert line["first_divergence"]["case"] == "msam-mlp-schedules-restore"

    status, out, _ = run(capsys, "check", "nag", WRONG / "nag_grad_at_w.py")
    assert status == 1
    assert out.startswith("FAIL  nag: nag_variable") and "first difference: case" in out


def test_file_colon_function(capsys, tmp_path):
    source = (SOLUTIONS / "sam.py").read_text().replace("def sam_step", "def my_sam")
    (tmp_path / "mine.py").write_text(source)
    status, out, _ = run(capsys, "check", "sam", f"{tmp_path / 'mine.py'}:my_sam")
    assert status == 0 and out.startswith("PASS  sam: my_sam")


def test_all_with_a_partial_folder_grades_the_rest_not_implemented(capsys, tmp_path):
    shutil.copy(SOLUTIONS / "msam.py", tmp_path / "msam.py")
    status, out, _ = run(capsys, "check", "all", tmp_path, "--json")
    assert status == 1
    by_name = {d["exercise"]: d["status"] for d in json_lines(out)}
    assert by_name == {**{name: "not implemented" for name in EXERCISES}, "msam": "pass"}


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["check", "msam", "no/such/file.py"], "no solution file"),
        (["check", "msam", WRONG / "nag_v_reset.py"], "has no function 'msam_step'"),
        (["check", "all", WRONG / "nag_v_reset.py"], "needs a folder"),
    ],
)
def test_errors_are_one_line(capsys, argv, fragment):
    status, out, err = run(capsys, *argv)
    assert status == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("minimsam: error: ") and fragment in line


def test_a_file_that_does_not_import_is_one_line(capsys, tmp_path):
    (tmp_path / "broken.py").write_text("def msam_step(w, v:\n")
    status, _, err = run(capsys, "check", "msam", tmp_path / "broken.py")
    assert status == 1
    (line,) = err.strip().splitlines()
    assert "loading" in line and "SyntaxError" in line


@pytest.mark.parametrize(
    "file, source, fragment",
    [
        ("raises.py", "raise ValueError('bad constant')\n", "failed: ValueError: bad constant"),
        ("bad.ipynb", "not json", "failed: JSONDecodeError"),
        ("answer.txt", "def msam_step(): pass\n", "cannot import"),
    ],
)
def test_a_file_whose_import_raises_is_named_in_the_one_line(capsys, tmp_path, file, source,
                                                             fragment):  # fmt: skip
    (tmp_path / file).write_text(source)
    status, _, err = run(capsys, "check", "msam", tmp_path / file)
    (line,) = err.strip().splitlines()
    assert status == 1 and file in line and fragment in line


def test_list_and_the_installed_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "minimsam", "exercise", "list"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for exercise in EXERCISES.values():
        assert exercise.signature in done.stdout


def filled_notebook(folder, name):
    """The exercise notebook of ``name`` with the reference solution in its stub cell."""
    exercise = EXERCISES[name]
    nb = json.loads((REPO / "exercises" / exercise.notebook).read_text())
    (stub,) = [c for c in nb["cells"] if "stub" in c["metadata"].get("tags", [])]
    stub["source"] = (SOLUTIONS / exercise.solution_file).read_text()
    path = folder / exercise.notebook
    path.write_text(json.dumps(nb))
    return path


def test_a_filled_in_notebook_is_graded_without_running_it(capsys, tmp_path, monkeypatch):
    import matplotlib.figure

    def no_figures(*args, **kwargs):
        raise AssertionError("grading a notebook must not draw its figure")

    monkeypatch.setattr(matplotlib.figure.Figure, "__init__", no_figures)
    filled_notebook(tmp_path, "msam")
    status, out, _ = run(capsys, "check", "all", tmp_path, "--json")
    assert status == 1  # the other three are missing
    by_name = {d["exercise"]: d for d in json_lines(out)}
    assert by_name["msam"]["status"] == "pass"
    assert by_name["msam"]["solution"].endswith("04_msam.ipynb")
    assert by_name["nag"]["status"] == "not implemented"


def test_the_stored_notebooks_grade_as_not_implemented(capsys):
    status, out, _ = run(capsys, "check", "all", REPO / "exercises", "--json")
    assert status == 1
    assert {d["status"] for d in json_lines(out)} == {"not implemented"}
