"""The second blind set (tests/exercises/blind2/, tests/crosscheck/blind2/), written by a
reader who had not seen the list of known mistakes, after the grader and the kit were
tuned on the first set, and never used to tune them: the honest measurement.

Measured when it was added: the grader named or located 44 of 54 wrong student answers
(81%), the kit 19 of 21 broken optimizers (90%); the target of 95% is not met. The misses
are listed by ``python -m tests.test_blind_set_2``. The floors below keep that from
getting worse; every correct entry must pass. Two entries ("grader_passes" in the
manifests) were wrong answers that passed, a gap in the golden cases."""

from __future__ import annotations

import pytest

from .blind_scoring import left_side, outcomes, table

FLOOR = {"exercises": 0.80, "crosscheck": 0.85}  #: named or located, of the wrong ones


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


if __name__ == "__main__":
    print(table("blind2"))
    for part, entries in outcomes("blind2").items():
        for entry, _, result in entries:
            if result == "missed":
                print(f"missed  {part:10s} {entry['file']:45s} {left_side(entry['equation'])}")
