"""SGD: hand-computed steps on a 2-D quadratic (docs/optimizers.md#sgd)."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim

from .problems import assert_tree_close, quadratic_problem, run

# f(w) = 0.5 w^T A w with A = diag(3, 4), so g(w) = (3 w1, 4 w2); start at w0 = (1, 1).
A, B, W0 = np.diag([3.0, 4.0]), np.zeros(2), [1.0, 1.0]


def two_steps(**kwargs):
    params, grad_fn = quadratic_problem(A, B, W0)
    opt = optim.SGD(**kwargs)
    _, _, trajectory = run(opt, params, grad_fn, 2)
    return trajectory


def test_momentum_and_weight_decay_by_hand(backend):
    w1, w2 = two_steps(lr=0.1, momentum=0.9, weight_decay=0.1)
    # step 0: d = g(w0) + 0.1 w0 = (3, 4) + (0.1, 0.1) = (3.1, 4.1); v1 = d
    #         w1 = (1, 1) - 0.1 (3.1, 4.1) = (0.69, 0.59)
    np.testing.assert_allclose(w1["w"], [0.69, 0.59], rtol=1e-14)
    # step 1: d = (3*0.69, 4*0.59) + 0.1 (0.69, 0.59) = (2.07 + 0.069, 2.36 + 0.059)
    #           = (2.139, 2.419);  v2 = 0.9 (3.1, 4.1) + d = (4.929, 6.109)
    #         w2 = (0.69, 0.59) - 0.1 (4.929, 6.109) = (0.1971, -0.0209)
    np.testing.assert_allclose(w2["w"], [0.1971, -0.0209], rtol=1e-13)


def test_nesterov_by_hand(backend):
    w1, _ = two_steps(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)
    # d = (3.1, 4.1) = v1; direction = d + 0.9 v1 = 1.9 (3.1, 4.1) = (5.89, 7.79)
    # w1 = (1, 1) - 0.1 (5.89, 7.79) = (0.411, 0.221)
    np.testing.assert_allclose(w1["w"], [0.411, 0.221], rtol=1e-14)


def test_plain_gradient_descent_by_hand(backend):
    w1, w2 = two_steps(lr=0.1)
    # w1 = (1 - 0.3, 1 - 0.4) = (0.7, 0.6); w2 = (0.7 (1 - 0.3), 0.6 (1 - 0.4)) = (0.49, 0.36)
    np.testing.assert_allclose(w1["w"], [0.7, 0.6], rtol=1e-15)
    np.testing.assert_allclose(w2["w"], [0.49, 0.36], rtol=1e-15)


def test_lr_schedule_is_read_at_each_step(backend):
    params, grad_fn = quadratic_problem(A, B, W0)
    scheduled = optim.SGD(lr=optim.schedules.step_decay(0.1, milestones=[1], gamma=0.5))
    p, state, _ = scheduled.step(params, scheduled.init(params), grad_fn)
    p, state, _ = scheduled.step(p, state, grad_fn)
    # w1 = (0.7, 0.6) with lr 0.1; then lr 0.05: w2 = (0.7 (1 - 0.15), 0.6 (1 - 0.2))
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.595, 0.48], rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_state_starts_at_zero_so_first_step_is_a_gradient_step(backend, nesterov):
    params, grad_fn = quadratic_problem(A, B, W0)
    opt = optim.SGD(lr=0.1, momentum=0.5, nesterov=nesterov)
    new, state, info = opt.step(params, opt.init(params), grad_fn, trace=True)
    assert_tree_close(info.points["momentum"], {"w": np.array([3.0, 4.0])})
    scale = 1.5 if nesterov else 1.0  # d + mu v1 = (1 + mu) d
    assert_tree_close(new, {"w": np.array([1 - 0.3 * scale, 1 - 0.4 * scale])})
