"""SAM: a hand-computed step and the rho = 0 identity (docs/optimizers.md#sam)."""

from __future__ import annotations

import numpy as np

import minimsam as ms
from minimsam import optim

from .problems import mlp_problem, quadratic_problem, run


def test_one_step_by_hand(backend):
    # f(w) = 0.5 (3 w1^2 + 4 w2^2), w0 = (1, 1): g(w0) = (3, 4), ||g|| = 5
    params, grad_fn = quadratic_problem(np.diag([3.0, 4.0]), np.zeros(2), [1.0, 1.0])
    opt = optim.SAM(lr=0.1, momentum=0.9, rho=0.5, weight_decay=0.1)
    p, state, info = opt.step(params, opt.init(params), grad_fn, trace=True)
    points = ms.to_numpy(info.points)
    # e = 0.5 (3, 4) / 5 = (0.3, 0.4);  w + e = (1.3, 1.4);  g(w + e) = (3.9, 5.6)
    np.testing.assert_allclose(points["ascent"]["w"], [0.3, 0.4], rtol=1e-12)
    np.testing.assert_allclose(points["w_perturbed"]["w"], [1.3, 1.4], rtol=1e-12)
    np.testing.assert_allclose(points["grad_at_perturbed"]["w"], [3.9, 5.6], rtol=1e-12)
    # d = (3.9, 5.6) + 0.1 w0 = (4.0, 5.7) = v1 (decay at the UNperturbed w0)
    np.testing.assert_allclose(ms.to_numpy(state["momentum"]["w"]), [4.0, 5.7], rtol=1e-12)
    # w1 = (1, 1) - 0.1 (4.0, 5.7) = (0.6, 0.43)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.6, 0.43], rtol=1e-12)
    # the loss reported is the first call's, at w0: 0.5 (3 + 4) = 3.5
    assert float(ms.to_numpy(info.loss)) == 3.5
    assert info.grad_evals == 2


def test_ascent_uses_the_data_gradient_without_weight_decay(backend):
    params, grad_fn = quadratic_problem(np.diag([3.0, 4.0]), np.zeros(2), [1.0, 1.0])
    opt = optim.SAM(lr=0.1, rho=0.5, weight_decay=10.0)
    _, _, info = opt.step(params, opt.init(params), grad_fn, trace=True)
    np.testing.assert_allclose(ms.to_numpy(info.points["ascent"]["w"]), [0.3, 0.4], rtol=1e-12)


def test_rho_zero_is_sgd_momentum_with_two_gradient_evaluations(backend):
    params, grad_fn = mlp_problem()
    sam = optim.SAM(0.1, momentum=0.9, rho=0.0, weight_decay=1e-2)
    sgd = optim.SGD(0.1, momentum=0.9, weight_decay=1e-2)
    _, state, _ = sam.step(params, sam.init(params), grad_fn)
    _, _, info = sam.step(params, state, grad_fn)
    assert info.grad_evals == 2
    _, _, sam_traj = run(sam, params, grad_fn, 10)
    _, _, sgd_traj = run(sgd, params, grad_fn, 10)
    for a, b in zip(sam_traj, sgd_traj):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
