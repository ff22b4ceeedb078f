"""The first blind set (tests/exercises/blind/, tests/crosscheck/blind/), written without
the list of known mistakes: the grader and the kit name the mistake, or locate the equation
of docs/optimizers.md it sits in, for at least 95% of the wrong ones, and every correct
one passes (a memory-free one with the option). The localiser was improved while this
set existed, so this rate is partly fitted to it; tests/test_blind_set_2.py measures a
set written afterwards. ``python -m tests.test_blind_sets`` prints the table per exercise
and framework."""

from __future__ import annotations

import pytest

from .blind_scoring import left_side, outcomes, table


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_wrong_ones_are_named_or_located_for_95_percent(which):
    wrong = [(e, s) for e, _, s in outcomes("blind")[which] if e["expected"] == "fail"]
    missed = [(e["file"], left_side(e["equation"])) for e, s in wrong if s == "missed"]
    assert len(wrong) >= (45 if which == "exercises" else 16)
    assert 1 - len(missed) / len(wrong) >= 0.95, f"{missed}\n{table('blind')}"


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_correct_one_passes(which):
    broken = [e["file"] for e, passed, _ in outcomes("blind")[which]
              if e["expected"] == "pass" and not passed]  # fmt: skip
    assert not broken, table("blind")


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_wrong_one_of_the_second_set_fails(which):
    """No false pass. The two the second set found (an SGD step without weight decay at
    momentum 0, an AdamW-MSAM without EPS in the norm of its new first moment) passed until
    issue 21 added the cases that show them; their entries say so (``false_pass_fixed_in``).
    (The first set counts two of its wrong ones as "missed" by the 95% test above: an SGD
    step that also updates its input arrays in place, which the grader's copies make
    harmless, and an MSAM with correct arithmetic in the memory-free form, which passes
    with that option.)"""
    passing = [e.get("impl", e["file"]) for e, passed, _ in outcomes("blind2")[which]
               if e["expected"] == "fail" and passed]  # fmt: skip
    assert not passing, table("blind2")


def test_the_false_passes_found_by_the_second_set_are_fixed():
    fixed = [(e.get("impl", e["file"]), passed) for part in outcomes("blind2").values()
             for e, passed, _ in part if "false_pass_fixed_in" in e]  # fmt: skip
    assert sorted(name for name, _ in fixed) == [
        "sgd_momentum_no_decay_without_momentum.py",
        "tests.crosscheck.blind2.jax_msam:adamw_msam_no_norm_eps",
    ]
    assert not any(passed for _, passed in fixed)


if __name__ == "__main__":
    print(table("blind"))
