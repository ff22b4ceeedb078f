"""Sharpness tools: closed forms on a quadratic, HIPS autograd as the Hessian oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimsam as ms
from minimsam import autodiff as ad
from minimsam import nn, optim
from minimsam import sharpness as sh

# ------------------------------------------------------------------- a quadratic in a tree
# L(w) = 0.5 x^T A x with x = concat(w["a"], ravel(w["b"])): seven entries in two arrays,
# so that the flat order (keys in order, C-style ravel) is exercised too.


def _spd_like(eigs, seed):
    """A symmetric matrix with the given eigenvalues and random eigenvectors (host)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigs), len(eigs))))
    return (q * np.asarray(eigs, dtype=float)) @ q.T, q


def _split(x):
    return {"a": x[:3], "b": x[3:].reshape(2, 2)}


def _quadratic(A_host):
    A = ms.asarray(A_host)

    def loss(p):
        x = ad.concatenate([p["a"], ad.reshape(p["b"], (4,))])
        return 0.5 * ad.sum(x * ad.matmul(A, x))

    return loss


EIGS = [5.0, 3.0, 2.0, 1.0, 0.5, -0.7, -6.0]  # the most negative one dominates |lambda|


@pytest.fixture
def quadratic(backend):
    A, vecs = _spd_like(EIGS, seed=1)
    x = np.random.default_rng(2).standard_normal(7)
    return _quadratic(A), A, vecs, x


def test_loss_along_is_the_parabola(quadratic):
    loss, A, _, x = quadratic
    d = np.random.default_rng(3).standard_normal(7)
    ts = np.linspace(-2.0, 3.0, 11)
    got = sh.loss_along(loss, ms.asarray(_split(x)), ms.asarray(_split(d)), ts)
    expected = 0.5 * x @ A @ x + ts * (d @ A @ x) + 0.5 * ts**2 * (d @ A @ d)
    assert isinstance(got, np.ndarray) and got.shape == (11,)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    delta = sh.sharpness_along(loss, ms.asarray(_split(x)), ms.asarray(_split(d)), ts)
    np.testing.assert_allclose(delta, expected - 0.5 * x @ A @ x, rtol=1e-11, atol=1e-11)


def test_sam_sharpness_has_the_closed_form(quadratic):
    loss, A, _, x = quadratic
    rho = 0.3
    g = A @ x
    u = g / np.linalg.norm(g)
    expected = rho * np.linalg.norm(g) + 0.5 * rho**2 * (u @ A @ u)
    got = sh.sam_sharpness(loss, ms.asarray(_split(x)), rho)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-10)


def test_gradient_and_momentum_directions(quadratic):
    loss, A, _, x = quadratic
    w = ms.asarray(_split(x))
    g = A @ x
    d = ms.to_numpy(sh.gradient_direction(loss, w))
    np.testing.assert_allclose(np.concatenate([d["a"], d["b"].ravel()]), g / np.linalg.norm(g))
    raw = ms.to_numpy(sh.gradient_direction(loss, w, unit=False))
    np.testing.assert_allclose(np.concatenate([raw["a"], raw["b"].ravel()]), g)
    v = np.arange(1.0, 8.0)
    for sign in (1, -1):
        m = ms.to_numpy(sh.momentum_direction(ms.asarray(_split(v)), sign=sign))
        flat = np.concatenate([m["a"], m["b"].ravel()])
        np.testing.assert_allclose(flat, sign * v / np.linalg.norm(v))
    with pytest.raises(ValueError, match="sign"):
        sh.momentum_direction(ms.asarray(_split(v)), sign=0)


def test_curvature_along_eigenvectors_is_the_eigenvalue(quadratic):
    loss, _, vecs, x = quadratic
    w = ms.asarray(_split(x))
    for i, lam in enumerate(EIGS):
        d = ms.asarray(_split(-3.0 * vecs[:, i]))  # scale and sign must not matter
        assert sh.curvature(loss, w, d) == pytest.approx(lam, rel=1e-12, abs=1e-12)
    assert math.isnan(sh.curvature(loss, w, ms.asarray(_split(np.zeros(7)))))


def test_hessian_dense_of_the_quadratic_is_A(quadratic):
    loss, A, _, x = quadratic
    np.testing.assert_allclose(sh.hessian_dense(loss, ms.asarray(_split(x))), A, atol=1e-13)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_top_eigenvalues_of_the_quadratic(quadratic, method):
    loss, A, _, x = quadratic
    expected = np.linalg.eigvalsh(A)[::-1][:4]
    got = sh.hessian_top_eigenvalues(loss, ms.asarray(_split(x)), k=4, method=method, tol=1e-10)
    assert isinstance(got, np.ndarray) and got.shape == (4,)
    np.testing.assert_allclose(got, expected, rtol=1e-8)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_repeated_top_eigenvalue_is_found_twice(backend, method):
    # A Krylov space holds one vector per distinct eigenvalue: Lanczos must restart
    # after it becomes invariant to see the second copy of 4.
    A, _ = _spd_like([4.0, 4.0, 1.0, 0.5, 0.25, 0.1, 0.0], seed=5)
    w = ms.asarray(_split(np.ones(7)))
    got = sh.hessian_top_eigenvalues(_quadratic(A), w, k=3, method=method, tol=1e-10)
    np.testing.assert_allclose(got, [4.0, 4.0, 1.0], rtol=1e-8)


def test_loss_surface_2d_on_the_quadratic(quadratic):
    loss, A, _, x = quadratic
    rng = np.random.default_rng(4)
    d1, d2 = rng.standard_normal(7), rng.standard_normal(7)
    alphas, betas, grid = sh.loss_surface_2d(
        loss, ms.asarray(_split(x)), ms.asarray(_split(d1)), ms.asarray(_split(d2)),
        extent=(-1.0, 2.0), n=4,
    )  # fmt: skip
    np.testing.assert_allclose(alphas, [-1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(betas, alphas)
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            p = x + a * d1 + b * d2
            assert grid[i, j] == pytest.approx(0.5 * p @ A @ p, rel=1e-12)
    alphas, _, grid = sh.loss_surface_2d(
        loss, ms.asarray(_split(x)), ms.asarray(_split(d1)), ms.asarray(_split(d2)), 0.5, 3
    )
    np.testing.assert_allclose(alphas, [-0.5, 0.0, 0.5])
    assert grid[1, 1] == pytest.approx(0.5 * x @ A @ x)


def test_cosine_over_trees(backend):
    a, b = np.arange(7.0), np.cos(np.arange(7.0))
    got = sh.cosine(ms.asarray(_split(a)), ms.asarray(_split(b)))
    assert got == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-12)
    assert math.isnan(sh.cosine(ms.asarray(_split(a)), ms.asarray(_split(0 * b))))


def test_direction_must_match_the_params(quadratic):
    loss, _, _, x = quadratic
    with pytest.raises(ValueError, match="missing keys"):
        sh.loss_along(loss, ms.asarray(_split(x)), {"a": ms.asarray(x[:3])}, [0.0])


# ---------------------------------------------------------------- a small tanh MLP, float64


def _mlp_problem(n=8):
    model = nn.MLP([3, 4, 2], activation="tanh")
    params = model.init(seed=0, dtype="float64")
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((n, 3)), rng.integers(0, 2, n)
    return model, params, x, y


def _autograd_hessian(params_host, x, y):
    """The dense Hessian of the same loss from HIPS autograd, on the flat parameter vector."""
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    shapes = [(k, v.shape) for k, v in params_host.items()]

    def flat_loss(theta):
        p, start = {}, 0
        for k, shape in shapes:
            size = int(np.prod(shape))
            p[k] = anp.reshape(theta[start : start + size], shape)
            start += size
        logits = anp.dot(anp.tanh(anp.dot(x, p["0.weight"]) + p["0.bias"]), p["2.weight"])
        logits = logits + p["2.bias"]
        shifted = logits - anp.max(logits, axis=1, keepdims=True)
        log_p = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
        return -anp.mean(log_p[np.arange(len(y)), y])

    theta = np.concatenate([v.ravel() for v in params_host.values()])
    return autograd.hessian(flat_loss)(theta)


def test_hessian_dense_and_top_eigenvalues_match_autograd(backend):
    model, params, x, y = _mlp_problem()
    expected = _autograd_hessian(ms.to_numpy(params), x, y)
    xd, yd = ms.asarray(x), ms.asarray(y)

    def loss(p):
        return nn.cross_entropy(model(p, xd), yd)

    H = sh.hessian_dense(loss, params)
    assert H.shape == (26, 26)
    np.testing.assert_allclose(H, expected, rtol=1e-10, atol=1e-12)
    top = np.linalg.eigvalsh(expected)[::-1]
    lanczos = sh.hessian_top_eigenvalues(loss, params, k=5, tol=1e-10)
    np.testing.assert_allclose(lanczos, top[:5], rtol=1e-6)
    power = sh.hessian_top_eigenvalues(loss, params, k=3, method="power", tol=1e-10)
    np.testing.assert_allclose(power, top[:3], rtol=1e-6)


def test_lanczos_with_fewer_steps_than_parameters(backend):
    # 227 parameters, 40 Lanczos steps: the top of the spectrum converges long before
    # the Krylov space fills the whole space. hessian_dense is the oracle (checked above).
    model = nn.MLP([10, 16, 3], activation="tanh")
    params = model.init(seed=0, dtype="float64")
    rng = np.random.default_rng(0)
    x, y = ms.asarray(rng.standard_normal((64, 10))), ms.asarray(rng.integers(0, 3, 64))

    def loss(p):
        return nn.cross_entropy(model(p, x), y)

    top = np.linalg.eigvalsh(sh.hessian_dense(loss, params))[::-1][:5]
    got = sh.hessian_top_eigenvalues(loss, params, k=5, iters=40, tol=1e-10)
    np.testing.assert_allclose(got, top, rtol=1e-6)


def test_m_sharpness(backend):
    model, params, x, y = _mlp_problem(n=12)
    xd, yd = ms.asarray(x), ms.asarray(y)

    def loss_on_batch(p, xb, yb):
        return nn.cross_entropy(model(p, xb), yb)

    def whole(lo, hi):
        return lambda p: loss_on_batch(p, xd[lo:hi], yd[lo:hi])

    rho = 0.2
    full = sh.m_sharpness(loss_on_batch, params, [(xd, yd)], m=12, rho=rho)
    assert full == pytest.approx(sh.sam_sharpness(whole(0, 12), params, rho), rel=1e-12)
    # m = 5 on 12 examples: sub-batches [0, 5) and [5, 10); the last two are left out.
    # Two batches of 6 with m = 3: four sub-batches, each with its own perturbation.
    per_sub = [sh.sam_sharpness(whole(lo, lo + 5), params, rho) for lo in (0, 5)]
    got = sh.m_sharpness(loss_on_batch, params, [(xd, yd)], m=5, rho=rho)
    assert got == pytest.approx(np.mean(per_sub), rel=1e-12)
    batches = [(xd[:6], yd[:6]), (xd[6:], yd[6:])]
    per_sub = [sh.sam_sharpness(whole(lo, lo + 3), params, rho) for lo in (0, 3, 6, 9)]
    got = sh.m_sharpness(loss_on_batch, params, batches, m=3, rho=rho)
    assert got == pytest.approx(np.mean(per_sub), rel=1e-12)
    assert not np.allclose(per_sub, full)  # small m is a different quantity
    with pytest.raises(ValueError, match="m = 13"):
        sh.m_sharpness(loss_on_batch, params, [(xd, yd)], m=13, rho=rho)
    with pytest.raises(ValueError, match="positive integer"):
        sh.m_sharpness(loss_on_batch, params, [(xd, yd)], m=0, rho=rho)


# ------------------------------------------------------------------ filter normalisation


def _linear_and_conv_params():
    """A SmallCNN has both conv (out, in, k, k) and linear (in, out) weights, and biases."""
    return nn.SmallCNN().init(seed=0)


def _norms(w, axes):
    return np.sqrt(np.sum(np.asarray(w, dtype=np.float64) ** 2, axis=axes))


def test_filter_normalised_direction_matches_each_filter_norm(backend):
    params = _linear_and_conv_params()
    d = ms.to_numpy(sh.random_direction(params, seed=3))
    w = ms.to_numpy(params)
    kinds = {v.ndim for v in w.values()}
    assert kinds == {1, 2, 4}
    for k in w:
        assert d[k].dtype == w[k].dtype and d[k].shape == w[k].shape
        if w[k].ndim == 1:
            assert np.all(d[k] == 0), k  # biases are left out (Li et al.)
        elif w[k].ndim == 2:  # Linear (in, out): per output column
            np.testing.assert_allclose(_norms(d[k], 0), _norms(w[k], 0), rtol=1e-5)
            assert not np.allclose(_norms(d[k], 1), _norms(w[k], 1), rtol=1e-2)  # not per row
        else:  # Conv2d (out, in, k, k): per output filter
            np.testing.assert_allclose(_norms(d[k], (1, 2, 3)), _norms(w[k], (1, 2, 3)), rtol=1e-5)
    layer = ms.to_numpy(sh.random_direction(params, seed=3, normalization="layer"))
    for k in w:
        assert np.linalg.norm(layer[k]) == pytest.approx(np.linalg.norm(w[k]), rel=1e-5)


def test_random_direction_is_seeded_and_the_same_on_every_backend(backend):
    params = _linear_and_conv_params()
    first = ms.to_numpy(sh.random_direction(params, seed=3))
    again = ms.to_numpy(sh.random_direction(params, seed=3))
    other = ms.to_numpy(sh.random_direction(params, seed=4))
    with ms.use_backend("numpy"):
        host = ms.to_numpy(sh.random_direction(ms.asarray(ms.to_numpy(params)), seed=3))
    for k in params:
        np.testing.assert_array_equal(first[k], again[k])
        # float32 norms: a GPU sums in another order than NumPy (seen: 1.1e-6 relative)
        np.testing.assert_allclose(first[k], host[k], rtol=1e-5)
    assert not np.allclose(first["0.weight"], other["0.weight"])
    raw = ms.to_numpy(sh.random_direction(params, seed=3, normalization=None))
    assert np.all(raw["0.bias"] != 0) and np.std(raw["7.weight"]) == pytest.approx(1, rel=0.05)
    with pytest.raises(ValueError, match="normalization"):
        sh.random_direction(params, seed=0, normalization="row")


def test_filter_normalisation_rejects_unknown_weight_shapes(backend):
    with pytest.raises(ValueError, match="params\\['w'\\]"):
        sh.random_direction({"w": ms.asarray(np.ones((2, 3, 4)))}, seed=0)


# ------------------------------------------------------------------------ curvature probe


def test_curvature_probe_records_every_n_steps(quadratic):
    loss, A, _, x = quadratic
    opt = optim.SGD(lr=0.05, momentum=0.9)
    params = ms.asarray(_split(x))
    state = opt.init(params)
    probe = sh.CurvatureProbe(every=2)

    def grad_fn(p):
        return ms.value_and_grad(loss)(p)

    for step in range(5):
        probe(step, params, state, loss)
        params, state, _ = opt.step(params, state, grad_fn)

    assert [r["step"] for r in probe.records] == [0, 2, 4]

    def rayleigh(v):
        return v @ A @ v / (v @ v)

    def flat(tree):
        t = ms.to_numpy(tree)
        return np.concatenate([t["a"], t["b"].ravel()])

    first = probe.records[0]
    assert math.isnan(first["momentum"])  # v_0 = 0: no direction yet
    assert first["gradient"] == pytest.approx(rayleigh(A @ x), rel=1e-12)
    assert first["random"] == pytest.approx(
        rayleigh(flat(sh.random_direction(ms.asarray(_split(x)), seed=0, normalization=None))),
        rel=1e-12,
    )
    # replay to step 4 and check the momentum curvature against the buffer there
    params, state = ms.asarray(_split(x)), opt.init(ms.asarray(_split(x)))
    for _ in range(4):
        params, state, _ = opt.step(params, state, grad_fn)
    last = probe.records[-1]
    assert last["momentum"] == pytest.approx(rayleigh(flat(state["momentum"])), rel=1e-12)
    assert last["gradient"] == pytest.approx(rayleigh(A @ flat(params)), rel=1e-12)


def test_curvature_probe_validates(backend):
    with pytest.raises(ValueError, match="every"):
        sh.CurvatureProbe(every=0)
    with pytest.raises(ValueError, match="directions"):
        sh.CurvatureProbe(directions=("hessian",))
    probe = sh.CurvatureProbe(every=1, directions=("momentum",))
    w = {"a": ms.asarray(np.ones(3))}
    with pytest.raises(ValueError, match="no momentum buffer"):
        probe(0, w, {"step": 0}, lambda p: ad.sum(p["a"] * p["a"]))


def test_eigenvalue_arguments_are_validated(quadratic):
    loss, _, _, x = quadratic
    w = ms.asarray(_split(x))
    with pytest.raises(ValueError, match="k must"):
        sh.hessian_top_eigenvalues(loss, w, k=8)
    with pytest.raises(ValueError, match="method"):
        sh.hessian_top_eigenvalues(loss, w, method="arnoldi")


def test_plot_surface_draws_the_grid_of_loss_surface_2d(quadratic):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minimsam import viz

    loss, _, _, x = quadratic
    w = ms.asarray(_split(x))
    d1, d2 = sh.random_direction(w, seed=0, normalization=None), sh.normalize(w)
    alphas, betas, grid = sh.loss_surface_2d(loss, w, d1, d2, extent=1.0, n=5)
    ax = viz.plot_surface(alphas, betas, grid, title="quadratic")
    assert ax.get_title() == "quadratic" and ax.get_xlim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="expected"):
        viz.plot_surface(alphas, betas[:3], grid)
    plt.close("all")
