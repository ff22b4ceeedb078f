"""The fifth blind set (tests/exercises/blind5/, tests/crosscheck/blind5/), written by two
readers who had not seen the list of known mistakes, the localiser or the earlier sets,
while the localiser was being improved on the fourth set.

Measured blind, with the localiser as it was when the set was written: the grader named or
located 50 of 54 wrong student answers, the kit 34 of 39 broken optimizers. Measured again
after the improvements made on the fourth set (which had not seen this set): 50 of 54 and 35
of 39 (93% and 90%). The target of 95% is not met. Then the localiser was improved on this
set's misses (a buffer kept in float32, a memory-free undo made with ``v_{t+1}``, a
perturbation left in place, an lr read at another count): 52 of 54 and 38 of 39, so the set
is no longer blind; the sixth set measures those changes. No false pass and no false fail.
The misses are listed by ``python -m tests.test_blind_set_5``. The floors below keep the
rates from getting worse; every wrong entry must fail and every correct one pass."""

from __future__ import annotations

import pytest

from .blind_scoring import left_side, outcomes, table

FLOOR = {"exercises": 0.96, "crosscheck": 0.97}  #: named or located, of the wrong ones


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_wrong_ones_are_named_or_located_at_least_as_often_as_measured(which):
    wrong = [(e, s) for e, _, s in outcomes("blind5")[which] if e["expected"] == "fail"]
    missed = [(e["file"], left_side(e["equation"])) for e, s in wrong if s == "missed"]
    assert len(wrong) >= (54 if which == "exercises" else 39)
    assert 1 - len(missed) / len(wrong) >= FLOOR[which], f"{missed}\n{table('blind5')}"


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_correct_one_passes(which):
    broken = [e.get("impl", e["file"]) for e, passed, _ in outcomes("blind5")[which]
              if e["expected"] == "pass" and not passed]  # fmt: skip
    assert not broken, table("blind5")


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_wrong_one_of_the_fifth_set_fails(which):
    passing = [e.get("impl", e["file"]) for e, passed, _ in outcomes("blind5")[which]
               if e["expected"] == "fail" and passed]  # fmt: skip
    assert not passing, table("blind5")


if __name__ == "__main__":
    print(table("blind5"))
    for part, entries in outcomes("blind5").items():
        for entry, _, result in entries:
            if result == "missed":
                name = entry.get("impl", entry["file"])
                print("missed ", part, name, left_side(entry["equation"]))
