"""PerturbedMomentum: hand-computed steps and its identities with MSAM, NAG and SGD."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimsam as ms
from experiments.variants import PERTURBATIONS, PerturbedMomentum
from minimsam import optim
from minimsam.optim import schedules

from .optim.problems import assert_tree_equal, host_copy, mlp_problem, quadratic_problem, run

# f(w) = 0.5 (3 w1^2 + 4 w2^2), so g(w) = (3 w1, 4 w2).
A, B = np.diag([3.0, 4.0]), np.zeros(2)


def state_with_momentum(v):
    return {"step": 1, "momentum": {"w": ms.asarray(np.asarray(v, float))}}


@pytest.mark.parametrize(
    ("perturbation", "rho", "expected_wp"),
    [
        # v = (3, 4), ||v|| = 5, w = (1, 1)
        ("msam", 0.5, [1 - 0.5 * 0.6, 1 - 0.5 * 0.8]),  # w - 0.5 v/||v||
        ("msam", -0.5, [1 + 0.5 * 0.6, 1 + 0.5 * 0.8]),  # w + 0.5 v/||v|| (a step back)
        ("unnormalized", 0.1, [1 - 0.3, 1 - 0.4]),  # w - 0.1 v
        ("unnormalized", -0.1, [1 + 0.3, 1 + 0.4]),  # w + 0.1 v
        ("lr-scaled", 2.0, [1 - 2 * 0.1 * 0.9 * 3, 1 - 2 * 0.1 * 0.9 * 4]),  # w - 2 eta mu v
    ],
)
def test_one_step_by_hand(backend, perturbation, rho, expected_wp):
    params, grad_fn = quadratic_problem(A, B, [1.0, 1.0])
    opt = PerturbedMomentum(lr=0.1, momentum=0.9, rho=rho, perturbation=perturbation)
    p, state, info = opt.step(params, state_with_momentum([3.0, 4.0]), grad_fn, trace=True)
    wp = np.array(expected_wp)
    g = np.array([3.0, 4.0]) * wp
    v_next = 0.9 * np.array([3.0, 4.0]) + g
    points = ms.to_numpy(info.points)
    # rtol 1e-12: MSAM divides by ||v|| + 1e-12, a relative change of 2e-13 here
    np.testing.assert_allclose(points["w_perturbed"]["w"], wp, rtol=1e-12)
    np.testing.assert_allclose(points["grad"]["w"], g, rtol=1e-12)
    np.testing.assert_allclose(ms.to_numpy(state["momentum"]["w"]), v_next, rtol=1e-12)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), 1.0 - 0.1 * v_next, rtol=1e-12)
    expected_loss = 0.5 * (3 * wp[0] ** 2 + 4 * wp[1] ** 2)
    assert float(ms.to_numpy(info.loss)) == pytest.approx(expected_loss, rel=1e-12)


def test_negative_rho_moves_the_gradient_point_along_plus_v(backend):
    params, grad_fn = mlp_problem()
    opt = PerturbedMomentum(0.1, momentum=0.9, rho=-0.7)
    p, state, _ = opt.step(params, opt.init(params), grad_fn)  # v_1 != 0
    v = host_copy(state["momentum"])
    _, _, info = opt.step(p, state, grad_fn, trace=True)
    shift = {k: ms.to_numpy(info.points["w_perturbed"][k]) - ms.to_numpy(p[k]) for k in v}
    dot = sum(float(np.sum(shift[k] * v[k])) for k in v)
    shift_norm = math.sqrt(sum(float(np.sum(s * s)) for s in shift.values()))
    v_norm = math.sqrt(sum(float(np.sum(x * x)) for x in v.values()))
    assert shift_norm == pytest.approx(0.7, rel=1e-12)
    assert dot / (shift_norm * v_norm) == pytest.approx(1.0, rel=1e-12)  # parallel to +v


@pytest.mark.parametrize("rho", [0.3, schedules.linear(0.1, 2.0, steps=5)])
def test_msam_with_positive_rho_is_optim_msam_exactly(backend, rho):
    params, grad_fn = mlp_problem()
    lr = schedules.cosine(0.2, total_steps=12)
    variant = PerturbedMomentum(lr, momentum=0.9, rho=rho, weight_decay=1e-2)
    msam = optim.MSAM(lr, momentum=0.9, rho=rho, weight_decay=1e-2)
    p1, s1, traj1 = run(variant, params, grad_fn, 12)
    p2, s2, traj2 = run(msam, params, grad_fn, 12)
    for a, b in zip(traj1, traj2):
        assert_tree_equal(a, b)
    assert_tree_equal(s1, s2)


@pytest.mark.parametrize("weight_decay", [0.0, 5e-2])
@pytest.mark.parametrize("lr", [0.1, schedules.cosine(0.2, total_steps=12)])
def test_lr_scaled_at_rho_one_is_nag_exactly(backend, lr, weight_decay):
    # NAG takes the gradient and the weight decay at a_t = w_t - eta mu v_t, which is the
    # lr-scaled perturbation at rho = 1 with the decay at the perturbed point.
    params, grad_fn = mlp_problem()
    variant = PerturbedMomentum(
        lr, momentum=0.9, rho=1.0, weight_decay=weight_decay, perturbation="lr-scaled"
    )
    nag = optim.NAG(lr, momentum=0.9, weight_decay=weight_decay)
    _, s1, traj1 = run(variant, params, grad_fn, 12)
    _, s2, traj2 = run(nag, params, grad_fn, 12)
    for a, b in zip(traj1, traj2):
        assert_tree_equal(a, b)
    assert_tree_equal(s1, s2)


def test_lr_scaled_at_another_rho_is_not_nag(backend):
    params, grad_fn = mlp_problem()
    variant = PerturbedMomentum(0.1, momentum=0.9, rho=3.0, perturbation="lr-scaled")
    p1, _, _ = run(variant, params, grad_fn, 5)
    p2, _, _ = run(optim.NAG(0.1, momentum=0.9), params, grad_fn, 5)
    assert not np.allclose(ms.to_numpy(p1["W1"]), ms.to_numpy(p2["W1"]), rtol=1e-6, atol=0)


@pytest.mark.parametrize("perturbation", PERTURBATIONS)
def test_rho_zero_is_sgd_momentum(backend, perturbation):
    params, grad_fn = mlp_problem()
    variant = PerturbedMomentum(0.1, momentum=0.9, rho=0.0, weight_decay=1e-2,
                                perturbation=perturbation)  # fmt: skip
    sgd = optim.SGD(0.1, momentum=0.9, weight_decay=1e-2)
    _, _, traj1 = run(variant, params, grad_fn, 10)
    _, _, traj2 = run(sgd, params, grad_fn, 10)
    for a, b in zip(traj1, traj2):
        assert_tree_equal(a, b)


@pytest.mark.parametrize("perturbation", PERTURBATIONS)
def test_first_step_has_no_perturbation(backend, perturbation):
    params, grad_fn = mlp_problem()
    opt = PerturbedMomentum(0.1, rho=-2.0, perturbation=perturbation)
    _, _, info = opt.step(params, opt.init(params), grad_fn, trace=True)
    assert_tree_equal(info.points["w_perturbed"], params)


def test_step_leaves_inputs_unchanged(backend):
    params, grad_fn = mlp_problem()
    opt = PerturbedMomentum(0.1, rho=-0.5)
    _, state, _ = opt.step(params, opt.init(params), grad_fn)
    before_p, before_s = host_copy(params), host_copy(state)
    opt.step(params, state, grad_fn)
    assert_tree_equal(params, before_p)
    assert_tree_equal(state, before_s)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rho": math.inf}, "rho"),
        ({"rho": math.nan}, "rho"),
        ({"rho": "0.3"}, "rho"),
        ({"lr": -0.1}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay": -1e-3}, "weight_decay"),
        ({"perturbation": "gradient"}, "perturbation"),
    ],
)
def test_invalid_hyperparameters_raise_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PerturbedMomentum(**{"lr": 0.1, **kwargs})


def test_non_finite_rho_schedule_value_raises_at_the_step():
    params, grad_fn = quadratic_problem(A, B, [1.0, 1.0])
    opt = PerturbedMomentum(0.1, rho=lambda t: math.nan)
    with pytest.raises(ValueError, match="rho"):
        opt.step(params, opt.init(params), grad_fn)


def test_negative_rho_schedule_is_allowed():
    opt = PerturbedMomentum(0.1, rho=lambda t: -0.5 * t)
    assert opt.signed_rho(3) == -1.5
