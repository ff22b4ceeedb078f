"""Learning-rate and rho schedules: values worked out by hand, validation, use in a step."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim
from minimsam.optim import schedules

from .problems import quadratic_problem


@pytest.mark.parametrize(
    "schedule, expected",
    [
        (schedules.constant(0.3), {0: 0.3, 7: 0.3, 10**6: 0.3}),
        # gamma**k with k = number of milestones <= t
        (schedules.step_decay(1.0, milestones=[2, 4], gamma=0.1), {1: 1.0, 2: 0.1, 4: 0.01}),
        # 0.5 (1 + cos(pi t / 10)): t = 5 is the middle; held at the final value after 10
        (schedules.cosine(1.0, total_steps=10), {0: 1.0, 5: 0.5, 10: 0.0, 20: 0.0}),
        (schedules.cosine(1.0, total_steps=10, final=0.2), {5: 0.6, 10: 0.2}),
        # ramp (t + 1) / 4 for t < 4, then cosine over the 10 steps from 4 to 14
        (
            schedules.warmup_cosine(1.0, warmup_steps=4, total_steps=14),
            {0: 0.25, 3: 1.0, 4: 1.0, 9: 0.5, 14: 0.0, 30: 0.0},
        ),
        (schedules.warmup_cosine(2.0, warmup_steps=0, total_steps=4), {0: 2.0, 2: 1.0}),
        (schedules.linear(0.0, 1.0, steps=4), {0: 0.0, 2: 0.5, 4: 1.0, 9: 1.0}),
        (schedules.linear(3.0, 1.0, steps=2), {1: 2.0, 5: 1.0}),
        (schedules.start_jump(3.0, steps=2), {0: 0.0, 1: 0.0, 2: 3.0, 100: 3.0}),
    ],
)
def test_schedule_values(schedule, expected):
    for t, value in expected.items():
        assert schedule(t) == pytest.approx(value, abs=1e-15), (schedule, t)
        assert isinstance(schedule(t), float)


def test_cosine_quarter_point():
    assert schedules.cosine(2.0, total_steps=8)(2) == pytest.approx(1.0 + math.cos(math.pi / 4))


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: schedules.constant(-1.0), "value"),
        (lambda: schedules.constant(math.nan), "value"),
        (lambda: schedules.cosine(1.0, total_steps=0), "total_steps"),
        (lambda: schedules.cosine(1.0, total_steps=10, final=-0.1), "final"),
        (lambda: schedules.warmup_cosine(1.0, warmup_steps=10, total_steps=10), "total_steps"),
        (lambda: schedules.step_decay(1.0, milestones=[5, 2]), "milestones"),
        (lambda: schedules.step_decay(1.0, milestones=[2], gamma=-0.5), "gamma"),
        (lambda: schedules.linear(0.0, 1.0, steps=2.5), "steps"),
        (lambda: schedules.start_jump(1.0, steps=-1), "steps"),
    ],
)
def test_bad_schedule_arguments_raise(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_schedules_have_readable_reprs():
    assert "cosine(0.1" in repr(optim.MSAM(lr=schedules.cosine(0.1, total_steps=5)))


def test_rho_schedule_is_read_at_each_step(backend):
    """rho = 0 on step 0 and 1, then 0.5: the third step is perturbed by exactly 0.5."""
    params, grad_fn = quadratic_problem(np.diag([3.0, 4.0]), np.zeros(2), [1.0, 1.0])
    opt = optim.MSAM(lr=0.1, rho=schedules.start_jump(0.5, steps=2))
    state = opt.init(params)
    shifts = []
    for _ in range(3):
        params, state, info = opt.step(params, state, grad_fn, trace=True)
        shift = ms.to_numpy(info.points["w_perturbed"]["w"] - info.points["w"]["w"])
        shifts.append(np.linalg.norm(shift))
    assert shifts[:2] == [0.0, 0.0]
    assert shifts[2] == pytest.approx(0.5, rel=1e-12)
