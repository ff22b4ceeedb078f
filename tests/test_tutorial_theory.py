"""The rate theory the tutorials derive (minimsam.tutorial) against runs of the optimizers."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim, tutorial

CURVATURES = (20.0, 1.0)


def _run(opt, curvatures, start, num_steps):
    """Iterates and momentum buffers of ``opt`` on ``sum c_i w_i^2 / 2``."""
    grad_fn = tutorial.quadratic_grad_fn(curvatures)
    params = {"w": ms.asarray(np.asarray(start, dtype=float))}
    state = opt.init(params)
    ws, vs = [], []
    for _ in range(num_steps):
        params, state, _ = opt.step(params, state, grad_fn)
        ws.append(ms.to_numpy(params["w"]))
        vs.append(ms.to_numpy(state["momentum"]["w"]))
    return np.array(ws), np.array(vs)


@pytest.mark.parametrize("method", ["SGD", "NAG"])
@pytest.mark.parametrize("lr, momentum", [(0.01, 0.9), (0.05, 0.5), (0.13, 0.4)])
def test_step_matrix_reproduces_the_optimizer_per_direction(method, lr, momentum):
    opt = (optim.NAG if method == "NAG" else optim.SGD)(lr=lr, momentum=momentum)
    start = np.array([-1.5, 2.5])
    ws, vs = _run(opt, CURVATURES, start, 25)
    for k, curvature in enumerate(CURVATURES):
        m = tutorial.step_matrix(method, lr, momentum, curvature)
        state = np.array([start[k], 0.0])
        for t in range(25):
            state = m @ state
            np.testing.assert_allclose(state, [ws[t, k], vs[t, k]], rtol=1e-12, atol=1e-14)


def test_gradient_descent_is_heavy_ball_without_momentum():
    for lam in CURVATURES:
        np.testing.assert_allclose(
            tutorial.direction_rates("GD", 0.03, 0.0, [lam]), abs(1 - 0.03 * lam)
        )


def test_step_matrix_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="unknown method"):
        tutorial.step_matrix("adam", 0.1, 0.9, 1.0)


@pytest.mark.parametrize("method, momentum", [("GD", 0.0), ("SGD", 0.9), ("NAG", 0.9)])
def test_predicted_rate_matches_a_measured_run(method, momentum):
    opt = (optim.NAG if method == "NAG" else optim.SGD)(lr=0.01, momentum=momentum)
    dist = tutorial.distances_to_minimum(
        opt, tutorial.quadratic_grad_fn(CURVATURES), (-1.5, 2.5), 400
    )
    predicted = tutorial.quadratic_rate(method, 0.01, momentum, CURVATURES)
    assert tutorial.measured_rate(dist, 50, 401) == pytest.approx(predicted, rel=2e-3)


def test_tuned_heavy_ball_is_the_best_setting_and_beats_tuned_gradient_descent():
    lr, mu, rate = tutorial.tuned_heavy_ball(*CURVATURES)
    assert tutorial.quadratic_rate("SGD", lr, mu, CURVATURES) == pytest.approx(rate, rel=1e-9)
    for d_lr, d_mu in [(1.05, 1), (0.95, 1), (1, 1.05), (1, 0.95)]:
        assert tutorial.quadratic_rate("SGD", lr * d_lr, mu * d_mu, CURVATURES) > rate
    lr_gd, rate_gd = tutorial.tuned_gradient_descent(*CURVATURES)
    grid = [tutorial.quadratic_rate("GD", a, 0.0, CURVATURES) for a in np.linspace(0.01, 0.1, 91)]
    assert min(grid) >= rate_gd - 1e-12
    assert tutorial.quadratic_rate("GD", lr_gd, 0.0, CURVATURES) == pytest.approx(rate_gd)
    assert rate < rate_gd


def test_measured_rate_of_a_geometric_sequence():
    assert tutorial.measured_rate(3.0 * 0.7 ** np.arange(50), 5, 50) == pytest.approx(0.7)


def test_draw_rates_reports_predicted_and_measured_rates():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minimsam import widgets

    fig = plt.figure()
    try:
        rates = widgets.draw_rates(fig, 0.01, 0.9)
    finally:
        plt.close(fig)
    assert set(rates) == {"GD", "SGD", "NAG"}
    for predicted, measured in rates.values():
        assert measured == pytest.approx(predicted, rel=1e-2)
    assert rates["NAG"][0] < rates["SGD"][0] < rates["GD"][0]


@pytest.mark.parametrize("momentum, rho", [(0.0, 0.0), (0.9, 0.0), (0.9, 0.1), (0.9, 0.3)])
def test_many_sam_runs_at_once_equal_optim_sam(momentum, rho):
    rng = np.random.default_rng(1)
    starts = np.stack([rng.uniform(-2.5, 2.5, 6), rng.uniform(-1.8, 1.8, 6)], axis=1)
    # 30 steps: near the saddle rounding differences grow about 10x per 3 steps (chaos)
    at_once = tutorial.sam_final_points(starts, 0.05, momentum, rho, 30)

    def make():
        return optim.SAM(lr=0.05, momentum=momentum, rho=rho)

    one_by_one = tutorial.final_points(make, starts, 30, tutorial.sharp_flat_grad_fn())
    np.testing.assert_allclose(at_once, one_by_one, rtol=0, atol=1e-8)


def test_sharp_flat_grads_is_the_pointwise_gradient():
    points = np.array([[-1.0, 0.1], [0.3, -0.7], [1.2, 0.4]])
    expected = np.array([tutorial.sharp_flat_grad(p)[1] for p in points])
    np.testing.assert_allclose(tutorial.sharp_flat_grads(points), expected, rtol=1e-13)


def test_rate_explorer_draws_the_static_figure_without_a_live_kernel(monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minimsam import widgets

    monkeypatch.setenv("MINIMSAM_STATIC_FIGURES", "1")
    lr, mu, rate = tutorial.tuned_heavy_ball(*CURVATURES)
    fig, rates = widgets.rate_explorer(lr, mu)
    plt.close(fig)
    assert rates["SGD"][0] == pytest.approx(rate)
    assert rates["SGD"][1] == pytest.approx(rate, rel=0.02)  # t s^t at the double root
    assert rates["GD"][0] > 1 and rates["NAG"][0] > 1  # both diverge at heavy ball's lr


def test_gaussian_well_sam_ratio_is_the_ratio_of_gradient_sizes_at_r_plus_rho_and_r():
    sigma, rho = 0.2, 0.3
    r = np.array([0.01, 0.07, 0.3])

    def size(x):  # |grad| of -exp(-x^2 / 2 sigma^2) at distance x
        return x / sigma**2 * np.exp(-(x**2) / (2 * sigma**2))

    ratio = tutorial.gaussian_well_sam_ratio(r, rho, sigma)
    np.testing.assert_allclose(ratio, size(r + rho) / size(r), rtol=1e-12)
    assert ratio[0] > 9 > 1 > ratio[2]  # large near the bottom, small on the flank


def test_draw_update_zoom_shows_the_momentum_and_the_applied_gradient_of_one_step():
    from matplotlib.figure import Figure

    from minimsam import viz
    from minimsam.data import landscapes

    surface = landscapes.get("sharp-flat")
    opt = optim.SAM(lr=surface.lr, momentum=0.9, rho=0.3)
    steps = viz.trace_steps(opt, surface.grad_fn(), surface.start, 13)
    ax = Figure().subplots()
    drawn = tutorial.draw_update_zoom(ax, surface, steps, 11)
    assert {"momentum", "gradient_applied"} <= set(drawn)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for point in (steps[11].points["w"], steps[11].w_momentum, steps[11].points["w_next"]):
        assert x0 < point[0] < x1 and y0 < point[1] < y1
    assert x1 - x0 < 0.2  # far closer than the perturbation (rho = 0.3) would allow
