"""Running and scoring the blind sets (tests/exercises/blind*/, tests/crosscheck/blind*/)
against their manifests: the mistake is *located* when the first equation that does not
hold is the manifest's ``equation``, *named* when a named pitfall sits in that equation."""

from __future__ import annotations

import collections
import functools
import json
import tempfile
from pathlib import Path

import pytest

from minimsam import crosscheck
from minimsam.exercises import EXERCISES, grade, load_function

# the equations of docs/optimizers.md (their left sides) where each named pitfall sits
PITFALL_EQUATIONS: dict[str, set[str]] = {
    "weight_decay_placement": {"d_t", "w_{t+1}", "w'_t"},
    "weight_decay_missing": {"d_t", "w_{t+1}", "w'_t", "gamma_t"},
    "weight_decay_outside_momentum": {"d_t", "w_{t+1}"},
    "perturbation_sign": {"w~_t", "e_t"},
    "per_tensor_norm": {"u_t", "e_t", "c_t"},
    "missing_epsilon": {"u_t", "e_t", "c_t"},
    "no_perturbation": {"w~_t", "e_t", "u_t"},
    "momentum_not_carried": {"v_{t+1}", "m_{t+1}"},
    "first_momentum": {"v_{t+1}"},
    "nag_variable": {"a_t", "w_{t+1}", "d_t"},
    "rho_drift": {"w_t"},
    "rho_lag": {"w~_t", "c_{t+1}"},
    "rho_schedule_ignored": {"e_t"},
    "state_not_saved": {"v_{t+1}"},
    "lr_lost_on_restore": {"w_{t+1}"},
    "memory_free_form": {"w~_{t+1}"},
}


def left_side(equation: str) -> str:
    """``"d_t = g(w_t) + lambda w_t"`` -> ``"d_t"``; a line copied from the LaTeX of
    docs/optimizers.md (``"\\tilde w_t &= ..."``) -> the same plain symbol (``"w~_t"``)."""
    side = equation.split("&=")[0] if "&=" in equation else equation.split(" = ")[0]
    return side.strip().replace("\\tilde w", "w~").replace("\\gamma", "gamma")


def score(entry: dict, pitfalls: list[str], symbol: str | None) -> str:
    """``"named"``, ``"located"`` or ``"missed"`` for a wrong answer's diagnosis."""
    truth = left_side(entry["equation"])
    if any(truth in PITFALL_EQUATIONS.get(p, ()) for p in pitfalls):
        return "named"
    return "located" if symbol == truth else "missed"


HERE = Path(__file__).resolve().parent
#: blind set -> (student answers, torch/JAX optimizers)
SETS = {
    "blind": (HERE / "exercises" / "blind", HERE / "crosscheck" / "blind"),
    "blind2": (HERE / "exercises" / "blind2", HERE / "crosscheck" / "blind2"),
    "blind3": (HERE / "exercises" / "blind3", HERE / "crosscheck" / "blind3"),
    "blind4": (HERE / "exercises" / "blind4", HERE / "crosscheck" / "blind4"),
    "blind5": (HERE / "exercises" / "blind5", HERE / "crosscheck" / "blind5"),
    "blind6": (HERE / "exercises" / "blind6", HERE / "crosscheck" / "blind6"),
}
PERTURBED = "keeps the perturbed point"  # the kit's evidence of params that are w~


def _exercise_outcome(entry: dict, students: Path) -> tuple[bool, str | None]:
    """``(passed, score)`` of one student answer, graded in its form."""
    exercise = EXERCISES[entry["exercise"]]
    form = entry["form"] if exercise.optimizer == "msam" else "standard"
    result = grade(exercise, load_function(students / entry["file"], exercise.function),
                   form=form, time_limit=60)  # fmt: skip
    if entry["expected"] == "pass":
        return result.passed, None
    if result.passed:
        return True, "missed"  # a wrong answer that passes
    symbol = None if result.location is None else result.location.symbol
    return False, score(entry, result.pitfalls, symbol)


def _kit_run(entry: dict, golden: Path, form: str):
    if entry["framework"] == "torch":
        return crosscheck.check_torch(golden, entry["optimizer"], entry["impl"], form=form)
    return crosscheck.check_jax(golden, entry["optimizer"], entry["impl"], form=form,
                                calls_per_step=entry.get("calls_per_step"))  # fmt: skip


def _kit_outcome(entry: dict, golden: Path) -> tuple[bool, str | None]:
    """``(passed, score)``: the standard form, and the memory-free one for such entries."""
    passed, scores = False, []
    for form in ["standard"] + (["memory-free"] if entry["form"] == "memory-free" else []):
        report = _kit_run(entry, golden, form)
        passed |= report.passed
        failing = [r for r in report.results if not r.passed]
        if not failing or entry["expected"] == "pass":
            continue
        first = failing[0]
        symbol = first.equation
        if first.not_driven is not None and PERTURBED in first.not_driven.reason:
            symbol = "w~_{t+1}"  # the params it shows are the next perturbed point
        pitfalls = list(dict.fromkeys(d.pitfall for r in failing for d in r.diagnoses))
        scores.append(score(entry, pitfalls, symbol))
    best = next((s for s in ("named", "located") if s in scores), "missed")
    return passed, (None if entry["expected"] == "pass" else best)  # passing: "missed"


@functools.cache
def outcomes(blind_set: str) -> dict[str, list[tuple[dict, bool, str | None]]]:
    """Every entry of one blind set with its outcome, by part."""
    student_dir, optimizer_dir = SETS[blind_set]
    students = json.loads((student_dir / "MANIFEST.json").read_text())
    optimizers = json.loads((optimizer_dir / "MANIFEST.json").read_text())
    out = {"exercises": [(e, *_exercise_outcome(e, student_dir)) for e in students]}
    if any(e["framework"] == "torch" for e in optimizers):
        pytest.importorskip("torch")
    if any(e["framework"] == "jax" for e in optimizers):
        pytest.importorskip("optax")
    golden = crosscheck.export(Path(tempfile.mkdtemp()) / "golden").parent
    out["crosscheck"] = [(e, *_kit_outcome(e, golden)) for e in optimizers]
    return out


def table(blind_set: str) -> str:
    """Per exercise and framework: named, equation-located, missed; correct ones passed."""
    rows = collections.defaultdict(collections.Counter)
    for entries in outcomes(blind_set).values():
        for entry, passed, result in entries:
            group = entry.get("exercise") or entry["framework"]
            rows[group][result or ("correct, passes" if passed else "correct, FAILS")] += 1
    columns = ["named", "located", "missed", "correct, passes", "correct, FAILS"]
    lines = [f"{'':14s}" + "".join(f"{c:>17s}" for c in columns)]
    lines += [f"{g:14s}" + "".join(f"{r[c]:17d}" for c in columns) for g, r in rows.items()]
    return "\n".join(lines)
