"""The sixth blind set (tests/exercises/blind6/, tests/crosscheck/blind6/), written by two
readers who had not seen the list of known mistakes, the localiser or the earlier sets,
while the localiser was being improved on the fifth set.

Measured blind, with the localiser as it was when the set was written: the grader named or
located 55 of 60 wrong student answers, the kit 22 of 28 broken optimizers. Measured again
after the improvements made on the fifth set (which had not seen this set): 56 of 60 and 23
of 28 (93% and 82%). The target of 95% is not met. Of the nine misses, three are mistakes
that earlier sets label at another equation for the same numbers (a decay kept out of the
momentum buffer: ``v_{t+1}`` here, ``d_t`` in the second and third sets; a SAM step taken
from the perturbed point: ``d_t`` here, ``w_{t+1}`` in most sets). No false pass and no
false fail; one broken SAM (its ascent reuses the previous step's gradient, one evaluation
per step) gets "could not be driven" on every case. The misses are listed by ``python -m
tests.test_blind_set_6``. The floors below keep the rates from getting worse; every wrong
entry must fail and every correct one pass."""

from __future__ import annotations

import pytest

from .blind_scoring import left_side, outcomes, table

FLOOR = {"exercises": 0.93, "crosscheck": 0.82}  #: named or located, of the wrong ones


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_wrong_ones_are_named_or_located_at_least_as_often_as_measured(which):
    wrong = [(e, s) for e, _, s in outcomes("blind6")[which] if e["expected"] == "fail"]
    missed = [(e["file"], left_side(e["equation"])) for e, s in wrong if s == "missed"]
    assert len(wrong) >= (60 if which == "exercises" else 28)
    assert 1 - len(missed) / len(wrong) >= FLOOR[which], f"{missed}\n{table('blind6')}"


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_correct_one_passes(which):
    broken = [e.get("impl", e["file"]) for e, passed, _ in outcomes("blind6")[which]
              if e["expected"] == "pass" and not passed]  # fmt: skip
    assert not broken, table("blind6")


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_wrong_one_of_the_sixth_set_fails(which):
    passing = [e.get("impl", e["file"]) for e, passed, _ in outcomes("blind6")[which]
               if e["expected"] == "fail" and passed]  # fmt: skip
    assert not passing, table("blind6")


if __name__ == "__main__":
    print(table("blind6"))
    for part, entries in outcomes("blind6").items():
        for entry, _, result in entries:
            if result == "missed":
                name = entry.get("impl", entry["file"])
                print("missed ", part, name, left_side(entry["equation"]))
