"""The fourth blind set (tests/exercises/blind4/, tests/crosscheck/blind4/), written by a
reader who had not seen the list of known mistakes, the localiser or the earlier sets,
while the localiser was being improved on the third set; it was never used to tune the
localiser: the honest measurement.

Measured when it was added: the grader named or located 44 of 48 wrong student answers
(92%), the kit 17 of 23 broken optimizers (74%), both before and after the improvements
made on the third set (which raised that set from 43 to 47 of 50 and from 17 to 20 of
22): those improvements did not carry over to mistakes written afterwards. The target of
95% is not met. The set found no false pass and no false fail. The misses are listed by
``python -m tests.test_blind_set_4``.

Its misses were then read, so it is no longer blind; what was added are principles, each
tested on new mutants (tests/exercises/typical_mistakes.py, tests/crosscheck/
test_localise.py), not its entries: AdamW-MSAM's ``m_t`` coefficient, and a shift rho
long along another vector, sit in ``c_t``; a decay factor ``1 - x`` with another ``x``
is told and placed in ``w'_t``; SAM params left at ``w + e`` are a restore that is
missing, not a driving problem; one vector standing for ``w_t`` in the decay and in the
update is a step that carries on from it (``w_{t+1}``); a point made right (its decay is
taken there) but not given to ``grad_fn`` sits in ``d_t``. After that the grader named or
located 45 of 48, the kit 20 of 23. Of the six left, three keep the decay out of the
momentum buffer, labelled ``v_{t+1}`` here and ``d_t`` in the second and third sets for
the same numbers; a memory-free undo made with ``v_{t+1}`` returns ``w~_t - lr v_{t+1}``
on every step, as the second set's next perturbation along ``v_t`` (labelled
``c_{t+1}``); AdamW-MSAM's gradient at ``w``, and the kit's first failing MSAM case
(no weight decay) of a gradient taken before the perturbation, make the numbers of a
perturbation never made. The floors below keep the rates from getting worse; every
wrong entry must fail and every correct one pass."""

from __future__ import annotations

import pytest

from .blind_scoring import left_side, outcomes, table

FLOOR = {"exercises": 0.93, "crosscheck": 0.86}  #: named or located, of the wrong ones


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_wrong_ones_are_named_or_located_at_least_as_often_as_measured(which):
    wrong = [(e, s) for e, _, s in outcomes("blind4")[which] if e["expected"] == "fail"]
    missed = [(e["file"], left_side(e["equation"])) for e, s in wrong if s == "missed"]
    assert len(wrong) >= (45 if which == "exercises" else 16)
    assert 1 - len(missed) / len(wrong) >= FLOOR[which], f"{missed}\n{table('blind4')}"


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_correct_one_passes(which):
    broken = [e.get("impl", e["file"]) for e, passed, _ in outcomes("blind4")[which]
              if e["expected"] == "pass" and not passed]  # fmt: skip
    assert not broken, table("blind4")


@pytest.mark.parametrize("which", ["exercises", "crosscheck"])
def test_every_wrong_one_of_the_fourth_set_fails(which):
    passing = [e.get("impl", e["file"]) for e, passed, _ in outcomes("blind4")[which]
               if e["expected"] == "fail" and passed]  # fmt: skip
    assert not passing, table("blind4")


if __name__ == "__main__":
    print(table("blind4"))
    for part, entries in outcomes("blind4").items():
        for entry, _, result in entries:
            if result == "missed":
                name = entry.get("impl", entry["file"])
                print("missed ", part, name, left_side(entry["equation"]))
