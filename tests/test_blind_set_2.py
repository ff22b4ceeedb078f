"""The second blind set (tests/exercises/blind2/, tests/crosscheck/blind2/), written by a
reader who had not seen the list of known mistakes, after the grader and the kit were
tuned on the first set.

Measured when it was added: the grader named or located 44 of 54 wrong student answers
(81%), the kit 19 of 21 broken optimizers (90%); the target of 95% was not met. Two of the
misses were wrong answers that passed, a gap in the golden cases, closed since (their
entries say ``false_pass_fixed_in``); with those cases the grader named or located 45 of
54 (83%) and the kit still 19 of 21. The set was then used to improve the localiser (float32
rounding, AdamW-MSAM's intermediates, the memory-free form, schedules read at another
count, extra gradient calls), so it is no longer blind: 52 of 54 (96%) and 21 of 21 after
that; a third set, written after these changes, is the honest measurement. The misses are
listed by ``python -m tests.test_blind_set_2``. The floors below keep the rate from getting
worse; every wrong entry must fail and every correct one pass. 51 of 54 since the fifth
set's round: ``msam_memory_free_old_momentum.py`` (labelled ``c_{t+1}``) returns
``w~_t - lr v_{t+1}`` on every step, the numbers of an undo made with ``v_{t+1}``, which
the third, fourth and fifth sets label ``w_t``; the localiser now names the first of the
two equations, ``w_t``, and tells both readings."""

from __future__ import annotations

import pytest

from .blind_scoring import left_side, outcomes, table

FLOOR = {"exercises": 0.94, "crosscheck": 1.0}  #: named or located, of the wrong ones


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_wrong_ones_are_named_or_located_at_least_as_often_as_measured(which):
    wrong = [(e, s) for e, _, s in outcomes("blind2")[which] if e["expected"] == "fail"]
    missed = [(e["file"], left_side(e["equation"])) for e, s in wrong if s == "missed"]
    assert len(wrong) >= (50 if which == "exercises" else 20)
    assert 1 - len(missed) / len(wrong) >= FLOOR[which], f"{missed}\n{table('blind2')}"


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_correct_one_passes(which):
    broken = [e["file"] for e, passed, _ in outcomes("blind2")[which]
              if e["expected"] == "pass" and not passed]  # fmt: skip
    assert not broken, table("blind2")


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
    print(table("blind2"))
    for part, entries in outcomes("blind2").items():
        for entry, _, result in entries:
            if result == "missed":
                print(f"missed  {part:10s} {entry['file']:45s} {left_side(entry['equation'])}")
