"""The blind set of student answers (tests/exercises/blind/) is complete and loadable.

The blind set was written without the grader's list of known mistakes, as a student
would write them: wrong answers (expected "fail") and correct but unusual ones (expected
"pass"). These tests check the set itself: every file the manifest lists exists, loads
as a submission with the exercise's function, and every entry is described. How well
the grader diagnoses them is tested elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minimsam.exercises import EXERCISES, grade, load_function

BLIND = Path(__file__).parent / "blind"
ENTRIES = json.loads((BLIND / "MANIFEST.json").read_text())
FIELDS = {"file", "exercise", "expected", "form", "mistake", "equation", "kind", "today"}


def _id(entry: dict) -> str:
    return entry["file"].removesuffix(".py")


def test_the_manifest_lists_every_answer_once():
    listed = [entry["file"] for entry in ENTRIES]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(p.name for p in BLIND.glob("*.py"))


def test_every_exercise_has_at_least_seven_wrong_answers():
    for name in EXERCISES:
        wrong = [e for e in ENTRIES if e["exercise"] == name and e["expected"] == "fail"]
        assert len(wrong) >= 7, name


@pytest.mark.parametrize("entry", ENTRIES, ids=_id)
def test_entry_is_described(entry):
    assert FIELDS <= set(entry)
    assert entry["exercise"] in EXERCISES
    assert entry["expected"] in {"pass", "fail"}
    assert entry["form"] in {"standard", "memory-free"}
    assert entry["mistake"].strip() and entry["equation"].strip() and entry["kind"].strip()


@pytest.mark.parametrize("entry", ENTRIES, ids=_id)
def test_answer_loads_as_a_submission(entry):
    exercise = EXERCISES[entry["exercise"]]
    step = load_function(BLIND / entry["file"], exercise.function)
    assert callable(step)
    assert step.__name__ == exercise.function


CORRECT = [e for e in ENTRIES if e["expected"] == "pass" and e["form"] == "standard"]


@pytest.mark.parametrize("entry", CORRECT, ids=_id)
def test_correct_unusual_answer_passes(entry):
    """A correct answer written differently passes the grader (guards the blind set's
    'pass' labels: a wrong label would send the diagnosis tests after a bug that is not
    there)."""
    exercise = EXERCISES[entry["exercise"]]
    result = grade(exercise.name, load_function(BLIND / entry["file"], exercise.function))
    assert result.passed, result.message
