"""The third blind set (tests/exercises/blind3/, tests/crosscheck/blind3/), written by a
reader who had not seen the list of known mistakes, the localiser or the earlier sets,
while the localiser was being improved on the second set: the honest measurement of
those improvements.

Measured when it was added, with the localiser of that day: the grader named or located
43 of 50 wrong student answers (86%), the kit 17 of 22 broken optimizers (77%); before
the improvements made on the second set, 42 of 50 and 17 of 22. The target of 95% is not
met. The set found one false pass, in both parts (an ``EPS`` added inside the square root
of the norm, ``sqrt(||v||^2 + EPS)``): no golden case normalised a short vector. The
surface cases of SAM, MSAM and AdamW-MSAM now take a small gradient on step 1, and those
entries fail (their manifest entries say ``false_pass_fixed_in``). The misses are listed
by ``python -m tests.test_blind_set_3``.

The set was then used to improve the localiser, so it is no longer blind: a perturbation
along the equation's with another length is placed at the normalisation (``u_t``, ``e_t``,
``c_t``; ``c_{t+1}`` in the memory-free form), a gradient scaled by a factor no scalar
names at ``d_t``, a point off by less than the tolerance at its equation (the kit places
its "precision" verdicts too), the memory-free step's next perturbation applied with + at
``w~_{t+1}``. After that the grader named or located 47 of 50 (94%), the kit 20 of 22
(91%). Four of the five left make the same numbers as an earlier set's entry that is
labelled at another equation (a Sutskever velocity, a preconditioned perturbation, a
memory-free undo made with ``v_{t+1}``, a momentum kept outside the optimizer's state).
The floors below keep the rates from getting worse; every wrong entry must fail and every
correct one pass."""

from __future__ import annotations

import pytest

from .blind_scoring import left_side, outcomes, table

FLOOR = {"exercises": 0.94, "crosscheck": 0.9}  #: named or located, of the wrong ones


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_wrong_ones_are_named_or_located_at_least_as_often_as_measured(which):
    wrong = [(e, s) for e, _, s in outcomes("blind3")[which] if e["expected"] == "fail"]
    missed = [(e["file"], left_side(e["equation"])) for e, s in wrong if s == "missed"]
    assert len(wrong) >= (45 if which == "exercises" else 16)
    assert 1 - len(missed) / len(wrong) >= FLOOR[which], f"{missed}\n{table('blind3')}"


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_correct_one_passes(which):
    broken = [e.get("impl", e["file"]) for e, passed, _ in outcomes("blind3")[which]
              if e["expected"] == "pass" and not passed]  # fmt: skip
    assert not broken, table("blind3")


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_wrong_one_of_the_third_set_fails(which):
    passing = [e.get("impl", e["file"]) for e, passed, _ in outcomes("blind3")[which]
               if e["expected"] == "fail" and passed]  # fmt: skip
    assert not passing, table("blind3")


def test_the_false_passes_found_by_the_third_set_are_fixed():
    fixed = [(e.get("impl", e["file"]), passed) for part in outcomes("blind3").values()
             for e, passed, _ in part if "false_pass_fixed_in" in e]  # fmt: skip
    assert sorted(name for name, _ in fixed) == [
        "msam_eps_inside_sqrt.py",
        "tests.crosscheck.blind3.torch_msam:MSAMEpsInsideSqrt",
    ]
    assert not any(passed for _, passed in fixed)


if __name__ == "__main__":
    print(table("blind3"))
    for part, entries in outcomes("blind3").items():
        for entry, _, result in entries:
            if result == "missed":
                name = entry.get("impl", entry["file"])
                print("missed ", part, name, left_side(entry["equation"]))
