"""Tests for minimsam.viz: traced steps decompose exactly, helpers draw the expected artists."""

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim, viz
from minimsam.data import landscapes

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

LR = 0.01
OPTIMIZERS = {
    "SGD": lambda: optim.SGD(lr=LR, momentum=0.9),
    "NAG": lambda: optim.NAG(lr=LR, momentum=0.9),
    "SAM": lambda: optim.SAM(lr=LR, momentum=0.9, rho=0.15),
    "MSAM": lambda: optim.MSAM(lr=LR, momentum=0.9, rho=0.3),
}


@pytest.fixture
def surface():
    return landscapes.get("quadratic")


def traced(name, surface, num_steps=6):
    return viz.trace_steps(OPTIMIZERS[name](), surface.grad_fn(), surface.start, num_steps)


def arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


# ----------------------------------------------------------------------------- tracing


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_trace_steps_path_chains_the_iterates(name, surface):
    steps = traced(name, surface)
    pts = viz.path(steps)
    assert pts.shape == (7, 2)
    np.testing.assert_array_equal(pts[0], surface.start)
    for k, step in enumerate(steps):
        np.testing.assert_array_equal(step.points["w"], pts[k])
        np.testing.assert_array_equal(step.points["w_next"], pts[k + 1])
        assert step.lr == LR


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_momentum_and_gradient_parts_add_up_to_the_update(name, surface):
    # heavy ball without weight decay: w_{t+1} = (w_t - eta mu v_t) - eta g(p_t)
    for step in traced(name, surface):
        m = step.w_momentum
        np.testing.assert_allclose(m, step.points["w"] - LR * 0.9 * step.momentum_before)
        np.testing.assert_allclose(m - LR * step.gradient, step.points["w_next"], atol=1e-12)


def test_gradient_point_per_optimizer(surface):
    # SGD: at w; NAG: the look-ahead = end of the momentum part; SAM: w + rho g/|g|;
    # MSAM: w - rho v/|v|
    sgd, nag, sam, msam = (traced(n, surface)[3] for n in OPTIMIZERS)
    np.testing.assert_array_equal(sgd.gradient_point, sgd.points["w"])
    np.testing.assert_allclose(nag.gradient_point, nag.w_momentum, atol=1e-12)
    g = sam.points["grad_at_w"]
    np.testing.assert_allclose(sam.gradient_point, sam.points["w"] + 0.15 * g / np.linalg.norm(g))
    v = msam.momentum_before
    np.testing.assert_allclose(msam.gradient_point, msam.points["w"] - 0.3 * v / np.linalg.norm(v))


def test_trace_steps_without_momentum_has_no_momentum_part(surface):
    steps = viz.trace_steps(optim.SGD(lr=LR), surface.grad_fn(), surface.start, 2)
    assert steps[0].momentum_before is None and steps[0].w_momentum is None


def test_trace_steps_nesterov_sgd_records_no_split(surface):
    opt = optim.SGD(lr=LR, momentum=0.9, nesterov=True)
    steps = viz.trace_steps(opt, surface.grad_fn(), surface.start, 2)
    assert steps[1].w_momentum is None


def test_trace_steps_rejects_bad_input(surface):
    with pytest.raises(ValueError, match="num_steps"):
        viz.trace_steps(OPTIMIZERS["SGD"](), surface.grad_fn(), surface.start, -1)

    def grad_fn(params):
        return 0.0, {"w": ms.get_backend().xp.zeros_like(params["w"])}

    with pytest.raises(ValueError, match="2 entries"):
        viz.trace_steps(OPTIMIZERS["SGD"](), grad_fn, [0.0, 0.0, 0.0], 1)
    with pytest.raises(ValueError, match="at least one step"):
        viz.path([])


# ----------------------------------------------------------------------------- drawing


def test_contour_marks_the_minima(surface):
    ax = Figure().subplots()
    filled = viz.contour(ax, surface, n=30)
    assert len(filled.levels) > 5
    assert len(ax.lines) == len(surface.minima)
    assert ax.get_xlim() == surface.bounds[0]


def test_contour_chooses_log_levels_for_wide_positive_ranges(surface):
    ax = Figure().subplots()
    levels = np.asarray(viz.contour(ax, surface, n=30, levels=10).levels)
    gaps = np.diff(levels[1:])
    assert gaps[-1] > 10 * gaps[0]  # geometric, not linear


def test_trajectory_draws_path_and_start():
    ax = Figure().subplots()
    line = viz.trajectory(ax, np.array([[0.0, 0.0], [1.0, 0.5], [2.0, 0.0]]), label="x")
    assert len(ax.lines) == 2
    np.testing.assert_array_equal(line.get_xdata(), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        viz.trajectory(ax, np.zeros((3, 3)))


@pytest.mark.parametrize(
    "name, expected_arrows, expected_parts",
    [
        ("SGD", 3, {"momentum", "gradient", "gradient_applied"}),
        ("NAG", 2, {"lookahead", "momentum", "gradient"}),
        ("SAM", 4, {"perturbation", "momentum", "gradient", "gradient_applied"}),
        ("MSAM", 4, {"perturbation", "momentum", "gradient", "gradient_applied"}),
    ],
)
def test_draw_step_arrows(name, expected_arrows, expected_parts, surface):
    ax = Figure().subplots()
    drawn = viz.draw_step(ax, traced(name, surface)[3])
    assert set(drawn) == expected_parts
    assert len(arrows(ax)) == expected_arrows


def test_draw_step_first_step_has_no_momentum_or_msam_perturbation(surface):
    # v_0 = 0: no momentum arrow, and MSAM's perturbed point is w itself
    ax = Figure().subplots()
    assert set(viz.draw_step(ax, traced("MSAM", surface)[0])) == {"gradient"}
    assert len(arrows(ax)) == 1


def test_draw_step_arrow_geometry(surface):
    step = traced("MSAM", surface)[3]
    ax = Figure().subplots()
    drawn = viz.draw_step(ax, step, parts=("perturbation",))
    start, end = drawn["perturbation"]._posA_posB
    np.testing.assert_allclose(start, step.points["w"])
    np.testing.assert_allclose(end, step.points["w_perturbed"])
    assert np.isclose(np.linalg.norm(np.subtract(end, start)), 0.3)


def test_step_legend_lists_the_parts():
    ax = Figure().subplots()
    legend = viz.step_legend(ax, ["perturbation", "lookahead", "momentum", "gradient"])
    assert len(legend.get_texts()) == 4


def test_plot_histories_lines_and_cost_axis():
    ax = Figure().subplots()
    history = [{"epoch": e, "test_acc": 0.1 * e, "grad_evals": 2} for e in (1, 2, 3)]
    lines = viz.plot_histories(ax, {"SAM": history, "SGD": history[:2]}, x="grad_evals")
    assert len(lines) == 2
    np.testing.assert_array_equal(lines[0].get_xdata(), [2, 4, 6])
    assert lines[0].get_color() == viz.COLORS["SAM"]


def test_save_figure_is_deterministic_and_has_no_software_tag(tmp_path):
    def make(path):
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot([0, 1], [1, 0])
        return viz.save_figure(fig, path, dpi=50)

    a, b = make(tmp_path / "a.png"), make(tmp_path / "sub" / "b.png")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes().startswith(b"\x89PNG")
    assert b"Software" not in a.read_bytes()


def test_animate_steps_has_one_frame_per_step(surface, tmp_path):
    from matplotlib.animation import PillowWriter
    from PIL import Image

    steps = traced("MSAM", surface, num_steps=3)
    fig = Figure(figsize=(2, 2))
    ax = fig.subplots()
    anim = viz.animate_steps(fig, ax, steps, title=lambda k, s: f"step {k}")
    anim.save(tmp_path / "a.gif", writer=PillowWriter(fps=2), dpi=40)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 3
    assert ax.get_title() == "step 2"
