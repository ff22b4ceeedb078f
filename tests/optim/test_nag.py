"""NAG: hand-computed look-ahead steps and the equivalence with SGD(nesterov=True)."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim

from .problems import mlp_problem, quadratic_problem, run


def test_two_steps_by_hand(backend):
    # f(w) = 0.5 (3 w1^2 + 4 w2^2), w0 = (1, 1), lr 0.1, momentum 0.9
    params, grad_fn = quadratic_problem(np.diag([3.0, 4.0]), np.zeros(2), [1.0, 1.0])
    opt = optim.NAG(lr=0.1, momentum=0.9)
    p, state, info0 = opt.step(params, opt.init(params), grad_fn, trace=True)
    # step 0: v0 = 0 so a0 = w0; g = (3, 4) = v1; w1 = (0.7, 0.6)
    np.testing.assert_array_equal(ms.to_numpy(info0.points["lookahead"]["w"]), [1.0, 1.0])
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.7, 0.6], rtol=1e-15)
    p, state, info1 = opt.step(p, state, grad_fn, trace=True)
    # step 1: a1 = (0.7, 0.6) - 0.1*0.9 (3, 4) = (0.43, 0.24); g = (1.29, 0.96)
    #         v2 = 0.9 (3, 4) + g = (3.99, 4.56); w2 = (0.7, 0.6) - 0.1 v2 = (0.301, 0.144)
    np.testing.assert_allclose(ms.to_numpy(info1.points["lookahead"]["w"]), [0.43, 0.24])
    np.testing.assert_allclose(ms.to_numpy(info1.points["grad"]["w"]), [1.29, 0.96])
    np.testing.assert_allclose(ms.to_numpy(state["momentum"]["w"]), [3.99, 4.56], rtol=1e-14)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.301, 0.144], rtol=1e-13)


def test_weight_decay_is_taken_at_the_lookahead_point(backend):
    params, grad_fn = quadratic_problem(np.diag([3.0, 4.0]), np.zeros(2), [1.0, 1.0])
    opt = optim.NAG(lr=0.1, momentum=0.9, weight_decay=0.5)
    state = {"step": 1, "momentum": {"w": ms.asarray(np.array([3.0, 4.0]))}}
    p, state, _ = opt.step(params, state, grad_fn)
    # a = (1, 1) - 0.09 (3, 4) = (0.73, 0.64); d = (3*0.73, 4*0.64) + 0.5 (0.73, 0.64)
    #   = (2.555, 2.88); v = (2.7 + 2.555, 3.6 + 2.88) = (5.255, 6.48)
    # w = (1, 1) - 0.1 v = (0.4745, 0.352)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.4745, 0.352], rtol=1e-13)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_lookahead_iterates_follow_sgd_nesterov(backend, weight_decay):
    """NAG's p_t = w_t - lr mu v_t is SGD(nesterov=True)'s iterate (docs/optimizers.md#nag)."""
    lr, mu = 0.1, 0.9
    params, grad_fn = mlp_problem(seed=1)
    nag, sgd = optim.NAG(lr, mu, weight_decay), optim.SGD(lr, mu, weight_decay, nesterov=True)
    w, nag_state = params, nag.init(params)
    p, sgd_state = params, sgd.init(params)  # p_0 = w_0 since v_0 = 0
    for _ in range(20):
        w, nag_state, _ = nag.step(w, nag_state, grad_fn)
        p, sgd_state, _ = sgd.step(p, sgd_state, grad_fn)
        for k in params:
            lookahead = ms.to_numpy(w[k] - lr * mu * nag_state["momentum"][k])
            np.testing.assert_allclose(lookahead, ms.to_numpy(p[k]), rtol=1e-12, atol=1e-14)
            # and both keep the same momentum buffer
            np.testing.assert_allclose(
                ms.to_numpy(nag_state["momentum"][k]),
                ms.to_numpy(sgd_state["momentum"][k]),
                rtol=1e-12,
                atol=1e-14,
            )


def test_nag_with_zero_momentum_is_gradient_descent(backend):
    params, grad_fn = mlp_problem()
    _, _, nag = run(optim.NAG(0.1, momentum=0.0), params, grad_fn, 5)
    _, _, sgd = run(optim.SGD(0.1), params, grad_fn, 5)
    for a, b in zip(nag, sgd):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
