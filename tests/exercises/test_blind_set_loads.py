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


# ----------------------------------------------------------------- the cross-check blind set

CROSSCHECK = Path(__file__).parents[1] / "crosscheck" / "blind"
IMPLS = json.loads((CROSSCHECK / "MANIFEST.json").read_text())
IMPL_FIELDS = FIELDS - {"exercise"} | {"framework", "optimizer", "impl"}


def test_the_crosscheck_manifest_lists_every_implementation_once():
    listed = [entry["file"] for entry in IMPLS]
    assert len(listed) == len(set(listed))
    files = sorted(p.name for p in CROSSCHECK.glob("*.py") if p.name != "__init__.py")
    assert sorted(listed) == files


def test_the_crosscheck_set_has_its_broken_and_correct_implementations():
    def count(framework, expected):
        return sum(e["framework"] == framework and e["expected"] == expected for e in IMPLS)

    assert count("torch", "fail") >= 12 and count("jax", "fail") >= 4
    assert count("torch", "pass") + count("jax", "pass") >= 3


@pytest.mark.parametrize("entry", IMPLS, ids=_id)
def test_implementation_is_described(entry):
    assert IMPL_FIELDS <= set(entry)
    assert entry["framework"] in {"torch", "jax"}
    assert entry["optimizer"] in {"sgd", "nag", "sam", "msam", "adamw", "adamw-msam"}
    assert entry["impl"] == f"tests.crosscheck.blind.{_id(entry)}:{entry['impl'].split(':')[1]}"
    assert entry["expected"] in {"pass", "fail"}
    assert entry["form"] in {"standard", "memory-free"}
    assert entry["mistake"].strip() and entry["equation"].strip() and entry["kind"].strip()


def _build(entry: dict):
    """The optimizer (torch) or transformation (optax) built the way the kit builds it."""
    from minimsam.crosscheck.loading import load_object

    hyper = {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}
    if entry["optimizer"] in {"sam", "msam", "adamw-msam"}:
        hyper["rho"] = 0.05
    if entry["optimizer"].startswith("adamw"):
        hyper = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01} | (
            {"rho": 0.05} if entry["optimizer"] == "adamw-msam" else {}
        )
    if entry["optimizer"] == "sgd":
        hyper["nesterov"] = False
    if entry["framework"] == "torch":
        torch = pytest.importorskip("torch")
        params = [torch.zeros(3, dtype=torch.float64, requires_grad=True)]
        return load_object(entry["impl"])(params, **hyper)
    jnp = pytest.importorskip("jax.numpy")
    pytest.importorskip("optax")
    constant = {k: (lambda t, x=hyper[k]: x) for k in ("lr", "rho") if k in hyper}
    hyper = hyper | constant
    tx = load_object(entry["impl"])(learning_rate=hyper.pop("lr"), **hyper)
    tx.init({"w": jnp.zeros(3)})
    return tx


@pytest.mark.parametrize("entry", IMPLS, ids=_id)
def test_implementation_imports_and_builds(entry):
    assert _build(entry) is not None
