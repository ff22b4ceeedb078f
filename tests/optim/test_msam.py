"""MSAM: hand-computed steps, identities, and the memory-free (store_perturbed) form."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim
from minimsam.optim import schedules

from .problems import assert_tree_close, mlp_problem, quadratic_problem, run

# f(w) = 0.5 (3 w1^2 + 4 w2^2), so g(w) = (3 w1, 4 w2); start at w0 = (1, 1).
A, B, W0 = np.diag([3.0, 4.0]), np.zeros(2), [1.0, 1.0]


def test_two_steps_by_hand(backend):
    params, grad_fn = quadratic_problem(A, B, W0)
    opt = optim.MSAM(lr=0.1, momentum=0.9, rho=0.5)
    p, state, info0 = opt.step(params, opt.init(params), grad_fn, trace=True)
    # step 0: v0 = 0, so no perturbation: wp0 = w0, g = (3, 4) = v1, w1 = (0.7, 0.6)
    np.testing.assert_array_equal(ms.to_numpy(info0.points["w_perturbed"]["w"]), [1.0, 1.0])
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.7, 0.6], rtol=1e-15)
    p, state, info1 = opt.step(p, state, grad_fn, trace=True)
    # step 1: u1 = (3, 4) / 5 = (0.6, 0.8);  wp1 = (0.7, 0.6) - 0.5 u1 = (0.4, 0.2)
    #         g(wp1) = (1.2, 0.8);  v2 = 0.9 (3, 4) + (1.2, 0.8) = (3.9, 4.4)
    #         w2 = (0.7, 0.6) - 0.1 (3.9, 4.4) = (0.31, 0.16)
    points = ms.to_numpy(info1.points)
    np.testing.assert_allclose(points["w_perturbed"]["w"], [0.4, 0.2], rtol=1e-11)
    np.testing.assert_allclose(points["grad"]["w"], [1.2, 0.8], rtol=1e-11)
    np.testing.assert_allclose(points["momentum"]["w"], [3.9, 4.4], rtol=1e-12)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.31, 0.16], rtol=1e-11)
    # the loss MSAM sees is at wp1: 0.5 (3 * 0.16 + 4 * 0.04) = 0.32
    assert float(ms.to_numpy(info1.loss)) == pytest.approx(0.32, rel=1e-11)


def test_weight_decay_is_taken_at_the_perturbed_point(backend):
    params, grad_fn = quadratic_problem(A, B, W0)
    opt = optim.MSAM(lr=0.1, momentum=0.9, rho=0.5, weight_decay=0.1)
    state = {"step": 1, "momentum": {"w": ms.asarray(np.array([3.0, 4.0]))}}
    p, state, _ = opt.step(params, state, grad_fn)
    # wp = (1, 1) - 0.5 (0.6, 0.8) = (0.7, 0.6); d = (2.1, 2.4) + 0.1 (0.7, 0.6) = (2.17, 2.46)
    # v = 0.9 (3, 4) + d = (4.87, 6.06); w = (1, 1) - 0.1 v = (0.513, 0.394)
    np.testing.assert_allclose(ms.to_numpy(state["momentum"]["w"]), [4.87, 6.06], rtol=1e-12)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.513, 0.394], rtol=1e-12)


def test_store_perturbed_two_steps_by_hand(backend):
    params, grad_fn = quadratic_problem(A, B, W0)
    opt = optim.MSAM(lr=0.1, momentum=0.9, rho=0.5, store_perturbed=True)
    p, state, _ = opt.step(params, opt.init(params), grad_fn)
    # w1 = (0.7, 0.6) as above; the caller now holds wp1 = w1 - 0.5 (0.6, 0.8) = (0.4, 0.2)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.4, 0.2], rtol=1e-11)
    np.testing.assert_allclose(ms.to_numpy(opt.eval_params(p, state)["w"]), [0.7, 0.6])
    assert float(ms.to_numpy(state["scale"])) == pytest.approx(0.5 / 5, rel=1e-12)
    p, state, _ = opt.step(p, state, grad_fn)
    # w2 = (0.31, 0.16), v2 = (3.9, 4.4); wp2 = w2 - 0.5 v2 / ||v2||
    w2, v2 = np.array([0.31, 0.16]), np.array([3.9, 4.4])
    wp2 = w2 - 0.5 * v2 / math.sqrt(3.9**2 + 4.4**2)
    np.testing.assert_allclose(ms.to_numpy(opt.eval_params(p, state)["w"]), w2, rtol=1e-11)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), wp2, rtol=1e-11)


def test_rho_zero_is_sgd_momentum(backend):
    params, grad_fn = mlp_problem()
    msam = optim.MSAM(0.1, momentum=0.9, rho=0.0, weight_decay=1e-2)
    sgd = optim.SGD(0.1, momentum=0.9, weight_decay=1e-2)
    _, _, msam_traj = run(msam, params, grad_fn, 10)
    _, _, sgd_traj = run(sgd, params, grad_fn, 10)
    for a, b in zip(msam_traj, sgd_traj):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("store_perturbed", [False, True])
def test_first_step_has_no_perturbation(backend, store_perturbed):
    params, grad_fn = mlp_problem()
    opt = optim.MSAM(0.1, rho=3.0, store_perturbed=store_perturbed)
    _, _, info = opt.step(params, opt.init(params), grad_fn, trace=True)
    assert_tree_close(info.points["w_perturbed"], params, rtol=0, atol=0)
    assert_tree_close(info.points["w"], params, rtol=0, atol=0)


def test_perturbation_has_length_rho_along_minus_momentum(backend):
    params, grad_fn = mlp_problem()
    opt = optim.MSAM(0.1, rho=0.3)
    params, state, _ = run(opt, params, grad_fn, 3)
    _, _, info = opt.step(params, state, grad_fn, trace=True)
    w, wp = ms.to_numpy(info.points["w"]), ms.to_numpy(info.points["w_perturbed"])
    v = ms.to_numpy(state["momentum"])
    shift = np.concatenate([(wp[k] - w[k]).ravel() for k in w])
    flat_v = np.concatenate([v[k].ravel() for k in v])
    np.testing.assert_allclose(np.linalg.norm(shift), 0.3, rtol=1e-12)
    np.testing.assert_allclose(shift, -0.3 * flat_v / np.linalg.norm(flat_v), rtol=1e-10)


@pytest.mark.parametrize(
    "lr, rho",
    [
        (0.1, 0.3),
        (schedules.cosine(0.1, total_steps=30), schedules.linear(0.0, 1.0, steps=20)),
        (schedules.warmup_cosine(0.1, 5, 30), schedules.start_jump(0.5, steps=10)),
    ],
)
def test_store_perturbed_gives_the_textbook_trajectory(backend, lr, rho):
    params, grad_fn = mlp_problem(seed=2)
    textbook = optim.MSAM(lr, momentum=0.9, rho=rho, weight_decay=5e-3)
    memory_free = optim.MSAM(lr, momentum=0.9, rho=rho, weight_decay=5e-3, store_perturbed=True)
    p_text, s_text, traj_text = run(textbook, params, grad_fn, 30)
    p_free, s_free, traj_free = run(memory_free, params, grad_fn, 30)
    for a, b in zip(traj_free, traj_text):
        assert_tree_close(a, b, rtol=1e-10, atol=1e-12)
    # eval_params returns the unperturbed weights in both forms
    assert textbook.eval_params(p_text, s_text) is p_text
    assert_tree_close(memory_free.eval_params(p_free, s_free), p_text, rtol=1e-10, atol=1e-12)


def _official_pytorch_msam(w0, grad, lr, mu, rho, steps):
    """The official code's memory-free recursion (docs/optimizers.md#msam), on the host: it
    stores inv = 1 / (||v|| + EPS) and undoes the perturbation with the CURRENT rho."""
    wt, v, inv = np.array(w0), np.zeros_like(w0), 0.0
    unperturbed = []
    for t in range(steps):
        g = grad(wt)
        w = wt + rho(t) * inv * v  # removal with the current rho
        v = mu * v + g
        w = w - lr * v
        inv = 1.0 / (np.linalg.norm(v) + optim.EPS)
        wt = w - rho(t) * inv * v
        unperturbed.append(w)
    return unperturbed


def test_changing_rho_does_not_shift_the_weights_unlike_the_official_code(backend):
    """With lr = 0 the unperturbed weights must never move, whatever rho does."""
    rho = schedules.linear(0.5, 2.0, steps=5)
    params, grad_fn = quadratic_problem(A, B, W0)
    opt = optim.MSAM(lr=0.0, momentum=0.9, rho=rho, store_perturbed=True)
    _, _, ours = run(opt, params, grad_fn, 8)
    for w in ours:
        np.testing.assert_allclose(w["w"], W0, rtol=0, atol=1e-15)
    official = _official_pytorch_msam(np.array(W0), lambda w: A @ w, 0.0, 0.9, rho, 8)
    # the official form drifts by (rho_new - rho_old) u at each change: 1.5 in total here
    assert np.linalg.norm(official[-1] - np.array(W0)) > 1.0


def test_official_recursion_matches_ours_under_constant_rho(backend):
    """The simulation above is faithful: with a constant rho it is our MSAM."""
    params, grad_fn = quadratic_problem(A, B, W0)
    _, _, ours = run(optim.MSAM(lr=0.1, momentum=0.9, rho=0.5), params, grad_fn, 8)
    official = _official_pytorch_msam(np.array(W0), lambda w: A @ w, 0.1, 0.9, lambda t: 0.5, 8)
    for a, b in zip(ours, official):
        np.testing.assert_allclose(a["w"], b, rtol=1e-10, atol=1e-12)


def _peak_step_bytes(opt, params, grads):
    """Bytes a second step allocates at its peak beyond what existed before it, when
    grad_fn allocates nothing (it returns fixed gradients)."""
    state = opt.init(params)
    params, state, _ = opt.step(params, state, lambda p: (0.0, grads))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        opt.step(params, state, lambda p: (0.0, grads))
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_msam_step_peak_memory_is_sgds_and_the_stored_form_one_array_more():
    """The perturbed point is freed before the new buffers exist (default form); the
    stored form frees w_t before wp_{t+1} exists: at most one params-sized array over SGD."""
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(n) for k, n in (("a", 60_000), ("b", 40_000))}
    grads = {k: rng.standard_normal(x.shape) for k, x in params.items()}
    one_array = sum(x.nbytes for x in params.values())
    sgd = _peak_step_bytes(optim.SGD(0.1, momentum=0.9), params, grads)
    msam = _peak_step_bytes(optim.MSAM(0.1, rho=0.3), params, grads)
    stored = _peak_step_bytes(optim.MSAM(0.1, rho=0.3, store_perturbed=True), params, grads)
    assert sgd >= 2 * one_array  # v_{t+1} and w_{t+1}
    assert abs(msam - sgd) < 4096
    assert stored - sgd < one_array + 4096
