"""AdamW and AdamWMSAM: hand-computed steps and the SPEC's decay-order difference."""

from __future__ import annotations

import math

import numpy as np

import minimsam as ms
from minimsam import optim

from .problems import mlp_data, mlp_problem, run

# f(w) = 0.5 (3 w1^2 + 4 w2^2), g(w) = (3 w1, 4 w2), w0 = (1, 1); eps = 0 keeps numbers round.
# Bias corrections: 1 - 0.9 = 0.1, 1 - 0.999 = 0.001 (k = 1); 1 - 0.81 = 0.19,
# 1 - 0.998001 = 0.001999 (k = 2).


def _quadratic():
    def grad_fn(p):
        g = p["w"] * ms.asarray(np.array([3.0, 4.0]))
        return 0.5 * (g * p["w"]).sum(), {"w": g}

    return {"w": ms.asarray(np.array([1.0, 1.0]))}, grad_fn


def test_adamw_two_steps_by_hand(backend):
    params, grad_fn = _quadratic()
    opt = optim.AdamW(lr=0.1, betas=(0.9, 0.999), eps=0.0, weight_decay=0.1)
    p, state, _ = opt.step(params, opt.init(params), grad_fn)
    # decay first: 1 * (1 - 0.01) = 0.99; m = 0.1 (3, 4) = (0.3, 0.4); s = 0.001 (9, 16)
    # step = (0.1 / 0.1) * m / (sqrt(s) / sqrt(0.001)) = (0.3 / 3, 0.4 / 4) = (0.1, 0.1)
    np.testing.assert_allclose(ms.to_numpy(state["m"]["w"]), [0.3, 0.4], rtol=1e-15)
    np.testing.assert_allclose(ms.to_numpy(state["s"]["w"]), [0.009, 0.016], rtol=1e-15)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.89, 0.89], rtol=1e-15)
    p, state, _ = opt.step(p, state, grad_fn)
    # g = (2.67, 3.56); m = 0.9 (0.3, 0.4) + 0.1 g = (0.537, 0.716)
    # s = 0.999 (0.009, 0.016) + 0.001 (2.67^2, 3.56^2) = (0.0161199, 0.0286576)
    # w = 0.89 * 0.99 - (0.1 / 0.19) m / (sqrt(s) / sqrt(0.001999))
    m, s = np.array([0.537, 0.716]), np.array([0.0161199, 0.0286576])
    expected = 0.8811 - (0.1 / 0.19) * m / (np.sqrt(s) / math.sqrt(0.001999))
    np.testing.assert_allclose(ms.to_numpy(state["m"]["w"]), m, rtol=1e-14)
    np.testing.assert_allclose(ms.to_numpy(state["s"]["w"]), s, rtol=1e-14)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), expected, rtol=1e-14)


def test_adamw_eps_enters_after_the_bias_correction(backend):
    params, grad_fn = _quadratic()
    opt = optim.AdamW(lr=0.1, eps=1e-2, weight_decay=0.0)
    p, _, _ = opt.step(params, opt.init(params), grad_fn)
    # w = 1 - 1.0 * (0.3, 0.4) / ((3, 4) + 0.01)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [1 - 0.3 / 3.01, 1 - 0.4 / 4.01])


def test_adamw_msam_two_steps_by_hand(backend):
    params, grad_fn = _quadratic()
    opt = optim.AdamWMSAM(lr=0.1, betas=(0.9, 0.999), eps=0.0, weight_decay=0.1, rho=0.5)
    p, state, info = opt.step(params, opt.init(params), grad_fn, trace=True)
    # step 0: c0 = 0 (m0 = 0), so wp0 = w0; Adam step (0.1, 0.1) gives (0.9, 0.9),
    #         then decay AFTER it: 0.9 * 0.99 = 0.891
    np.testing.assert_array_equal(ms.to_numpy(info.points["w_perturbed"]["w"]), [1.0, 1.0])
    np.testing.assert_allclose(ms.to_numpy(info.points["w_adam"]["w"]), [0.9, 0.9], rtol=1e-15)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), [0.891, 0.891], rtol=1e-15)
    p, state, info = opt.step(p, state, grad_fn, trace=True)
    # step 1: m1 = (0.3, 0.4), ||m1|| = 0.5, c1 = 0.5 / 0.5 = 1
    #         wp1 = 0.891 - (0.3, 0.4) = (0.591, 0.491); g = (1.773, 1.964)
    #         m2 = 0.9 (0.3, 0.4) + 0.1 g = (0.4473, 0.5564)
    #         s2 = 0.999 (0.009, 0.016) + 0.001 g^2 = (0.012134529, 0.019841296)
    m, s = np.array([0.4473, 0.5564]), np.array([0.012134529, 0.019841296])
    w_adam = 0.891 - (0.1 / 0.19) * m / (np.sqrt(s) / math.sqrt(0.001999))
    np.testing.assert_allclose(
        ms.to_numpy(info.points["w_perturbed"]["w"]), [0.591, 0.491], rtol=1e-11
    )
    np.testing.assert_allclose(ms.to_numpy(info.points["grad"]["w"]), [1.773, 1.964], rtol=1e-11)
    np.testing.assert_allclose(ms.to_numpy(state["m"]["w"]), m, rtol=1e-11)
    np.testing.assert_allclose(ms.to_numpy(state["s"]["w"]), s, rtol=1e-11)
    np.testing.assert_allclose(ms.to_numpy(p["w"]), w_adam * 0.99, rtol=1e-11)


def _spec_adamw_msam_rho0(w, grad, lr, b1, b2, eps, lam, steps):
    """AdamWMSAM of docs/optimizers.md with c_t = 0, on the host: Adam step, then the decay."""
    m = {k: np.zeros_like(x) for k, x in w.items()}
    s = {k: np.zeros_like(x) for k, x in w.items()}
    trajectory = []
    for t in range(steps):
        g = grad(w)
        new = {}
        for k in w:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            s[k] = b2 * s[k] + (1 - b2) * g[k] ** 2
            bias1, bias2 = 1 - b1 ** (t + 1), 1 - b2 ** (t + 1)
            adam = w[k] - (lr / bias1) * m[k] / (np.sqrt(s[k]) / np.sqrt(bias2) + eps)
            new[k] = adam * (1 - lr * lam)
        w = new
        trajectory.append(w)
    return trajectory


def test_adamw_msam_with_rho_zero_follows_the_spec_equations(backend):
    params, grad_fn = mlp_problem(seed=3)
    opt = optim.AdamWMSAM(lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.1, rho=0.0)
    _, _, ours = run(opt, params, grad_fn, 20)

    with ms.use_backend("numpy"):
        _, host_grad = mlp_problem(seed=3)
        reference = _spec_adamw_msam_rho0(
            mlp_data(seed=3)[2], lambda w: host_grad(w)[1], 0.01, 0.8, 0.99, 1e-8, 0.1, 20
        )
    for a, b in zip(ours, reference):
        for k in b:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-14)


def test_adamw_msam_rho_zero_is_adamw_only_without_weight_decay(backend):
    params, grad_fn = mlp_problem()
    kwargs = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    _, _, msam = run(optim.AdamWMSAM(weight_decay=0.0, rho=0.0, **kwargs), params, grad_fn, 10)
    _, _, adamw = run(optim.AdamW(weight_decay=0.0, **kwargs), params, grad_fn, 10)
    for a, b in zip(msam, adamw):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    # with decay, the order differs: AdamW decays before the Adam step, AdamWMSAM after
    _, _, msam = run(optim.AdamWMSAM(weight_decay=0.5, rho=0.0, **kwargs), params, grad_fn, 3)
    _, _, adamw = run(optim.AdamW(weight_decay=0.5, **kwargs), params, grad_fn, 3)
    assert not np.allclose(msam[-1]["W1"], adamw[-1]["W1"], rtol=1e-9, atol=0)
