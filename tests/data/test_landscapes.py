"""Toy landscapes: stated minima are minima, the sharp and flat wells have equal depth,
curvatures differ as claimed, and ``grad_fn`` drives the optimizers on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim
from minimsam.data import landscapes

ALL = sorted(landscapes.LANDSCAPES)


def gradient(surface, w):
    return ms.grad(surface.loss)(np.asarray(w, dtype=np.float64))


def hessian(surface, w):
    """The 2x2 Hessian from two exact Hessian-vector products."""
    w = np.asarray(w, dtype=np.float64)
    hvp = ms.hvp(surface.loss)
    return np.stack([hvp(w, e) for e in np.eye(2)], axis=1)


def newton_minimum(surface, w, steps=50):
    """Newton's method ``w <- w - H^-1 g`` until the step stops shrinking."""
    w = np.asarray(w, dtype=np.float64)
    for _ in range(steps):
        step = np.linalg.solve(hessian(surface, w), gradient(surface, w))
        w = w - step
        if np.max(np.abs(step)) < 1e-15:
            break
    return w


@pytest.mark.parametrize("name", ALL)
def test_stated_minima_are_strict_local_minima(name):
    surface = landscapes.get(name)
    assert surface.name == name
    (x0, x1), (y0, y1) = surface.bounds
    for m in surface.minima:
        assert np.max(np.abs(gradient(surface, m))) < 1e-9
        h = hessian(surface, m)
        np.testing.assert_allclose(h, h.T, atol=1e-9)
        assert np.linalg.eigvalsh(h).min() > 0
        assert x0 < m[0] < x1 and y0 < m[1] < y1
    assert x0 < surface.start[0] < x1 and y0 < surface.start[1] < y1


def test_quadratic_and_rosenbrock_hessians_match_hand_derivation():
    a, b = 20.0, 1.0  # L = (a x^2 + b y^2) / 2  ->  H = diag(a, b) everywhere
    q = landscapes.get("quadratic")
    np.testing.assert_allclose(hessian(q, [0.3, -0.7]), np.diag([a, b]), atol=1e-12)
    assert q.loss(np.array([1.0, 2.0])) == pytest.approx(0.5 * (a * 1 + b * 4))
    # L = (1-x)^2 + 100 (y-x^2)^2:  L_xx = 2 - 400 y + 1200 x^2,  L_xy = -400 x,  L_yy = 200
    r = landscapes.get("rosenbrock")
    x, y = 0.5, -0.25
    expected = np.array([[2 - 400 * y + 1200 * x**2, -400 * x], [-400 * x, 200.0]])
    np.testing.assert_allclose(hessian(r, [x, y]), expected, rtol=1e-12)
    assert r.loss(np.array([x, y])) == pytest.approx((1 - x) ** 2 + 100 * (y - x**2) ** 2)


def test_sharp_and_flat_wells_have_equal_depth():
    surface = landscapes.get("sharp-flat")
    sharp_stated, flat_stated = surface.minima
    # Newton from the Gaussians' centres, not from the stated points
    sharp = newton_minimum(surface, landscapes.SHARP_CENTER)
    flat = newton_minimum(surface, landscapes.FLAT_CENTER)
    np.testing.assert_allclose(sharp, sharp_stated, atol=1e-9)
    np.testing.assert_allclose(flat, flat_stated, atol=1e-9)
    depth_sharp, depth_flat = surface.loss(sharp), surface.loss(flat)
    assert abs(depth_sharp - depth_flat) < 1e-6
    # both are the global minimum over the plotting window (a grid check)
    (x0, x1), (y0, y1) = surface.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, 301), np.linspace(y0, y1, 301))
    assert surface.values(xs, ys).min() >= min(depth_sharp, depth_flat) - 1e-12


def test_sharp_well_is_much_sharper_than_the_flat_one():
    surface = landscapes.get("sharp-flat")
    sharp, flat = (np.linalg.eigvalsh(hessian(surface, m)) for m in surface.minima)
    # Gaussian curvature at the centre is amplitude / width^2: 1/0.04 = 25 vs 1/0.49 ~ 2
    assert sharp.min() > 10 * flat.max()
    assert 20 < sharp.min() and flat.max() < 3


def test_sharp_flat_bowl_brings_far_points_back():
    surface = landscapes.get("sharp-flat")
    for angle in np.linspace(0, 2 * np.pi, 12, endpoint=False):
        w = 10.0 * np.array([np.cos(angle), np.sin(angle)])
        assert gradient(surface, w) @ w > 0  # -gradient points back toward the wells


@pytest.mark.parametrize("name", ALL)
def test_values_on_a_grid_match_the_loss(name):
    surface = landscapes.get(name)
    xs, ys = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-0.5, 2, 3))
    grid = surface.values(xs, ys)
    assert grid.shape == xs.shape
    for i, j in np.ndindex(xs.shape):
        assert grid[i, j] == pytest.approx(float(surface.loss(np.array([xs[i, j], ys[i, j]]))))


def test_grad_fn_is_exact_without_noise_and_seeded_with_noise():
    surface = landscapes.get("rosenbrock")
    params = {"w": np.array([-0.3, 0.8])}
    loss, grads = surface.grad_fn()(params)
    assert loss == pytest.approx(float(surface.loss(params["w"])))
    np.testing.assert_array_equal(grads["w"], gradient(surface, params["w"]))

    noisy = [surface.grad_fn(noise=0.5, seed=s) for s in (3, 3, 4)]
    draws = [np.stack([g(params)[1]["w"] for _ in range(2000)]) for g in noisy]
    np.testing.assert_array_equal(draws[0], draws[1])  # same seed, same noise
    assert not np.array_equal(draws[0], draws[2])
    noise = draws[0] - grads["w"]
    np.testing.assert_allclose(noise.mean(axis=0), 0.0, atol=4 * 0.5 / np.sqrt(2000))
    np.testing.assert_allclose(noise.std(axis=0), 0.5, rtol=0.1)
    assert noisy[0](params)[0] == pytest.approx(loss)  # the loss itself is exact


def test_descent_reaches_the_minimum_on_every_backend(backend):
    surface = landscapes.get("quadratic")
    opt = optim.SGD(lr=0.05, momentum=0.5)
    params = {"w": ms.asarray(np.array(surface.start))}
    state = opt.init(params)
    grad_fn = surface.grad_fn(noise=0.01, seed=0)
    for _ in range(300):
        params, state, info = opt.step(params, state, grad_fn)
    assert isinstance(params["w"], backend.array_type)
    np.testing.assert_allclose(ms.to_numpy(params["w"]), surface.minima[0], atol=0.05)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown landscape 'saddle'"):
        landscapes.get("saddle")
    with pytest.raises(ValueError, match="noise"):
        landscapes.get("quadratic").grad_fn(noise=-1.0)
