"""Tests for minimsam.viz: traced steps decompose exactly, helpers draw the expected artists."""

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim, viz
from minimsam.data import landscapes

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

PALETTE = set(viz.OKABE_ITO.values())
# animations drawn frame by frame (draw_frame) are never "rendered" in matplotlib's sense
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted")

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


def test_save_figure_is_atomic(tmp_path, monkeypatch):
    # a failed save keeps the old file whole and leaves no temporary behind
    target = tmp_path / "f.png"
    target.write_bytes(b"old")
    fig = Figure(figsize=(1, 1))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError):
        viz.save_figure(fig, target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.png"]
    monkeypatch.undo()
    viz.save_figure(fig, target, dpi=20)
    assert target.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]


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
    from PIL import Image

    steps = traced("MSAM", surface, num_steps=3)
    fig = Figure(figsize=(2, 2))
    ax = fig.subplots()
    anim = viz.animate_steps(fig, ax, steps, title=lambda k, s: f"step {k}")
    viz.save_animation(anim, tmp_path / "a.gif", fps=2, dpi=40)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 3
    assert ax.get_title() == "step 2"


def test_animate_steps_zoom_follows_the_step(surface):
    steps = traced("MSAM", surface, num_steps=4)
    fig = Figure(figsize=(4, 2))
    ax, zoom = fig.subplots(1, 2)
    anim = viz.animate_steps(fig, ax, steps, labels=True, optimizer="MSAM", zoom=zoom)
    for k in (1, 3):
        anim.draw_frame(k)
        window = viz.step_window([steps[k]], pad=0.3)
        assert zoom.get_xlim() == pytest.approx(window[0])
        assert len(arrows(zoom)) == 4 and not arrows(ax)  # the step is drawn in the zoom
        names = {t.get_text() for t in zoom.texts}
        assert names == {f"$w_{{{k}}}$", f"$w_{{{k + 1}}}$", f"$\\tilde w_{{{k}}}$"}


def test_gif_frames_share_one_palette_without_dithering(tmp_path):
    # two frames: flat colour fields that a per-frame dithered palette would speckle, and
    # a grey ramp that per-frame palettes would render differently (flicker)
    from PIL import Image

    colors = [(0, 114, 178), (230, 159, 0), (240, 240, 240)]
    frames = []
    for k in range(2):
        a = np.zeros((40, 60, 3), np.uint8)
        a[:, :20], a[:, 20:40], a[:, 40:] = colors[k], colors[1 - k], colors[2]
        a[10:30, 25:35] = np.linspace(0, 255, 10, dtype=np.uint8)[None, :, None]  # a ramp
        frames.append(Image.fromarray(a))
    path = viz.write_gif(frames, tmp_path / "x.gif", fps=4)
    with Image.open(path) as im:
        ramps = []
        for k in range(im.n_frames):
            im.seek(k)
            decoded = np.asarray(im.convert("RGB"))
            ramps.append(decoded[10:30, 25:35])
            original = np.asarray(frames[k])
            flat = np.ones(decoded.shape[:2], bool)
            flat[10:30, 25:35] = False
            assert np.array_equal(decoded[flat], original[flat])  # exact, no dithering noise
        # one palette: the same colours (the ramp) come out the same in every frame
        assert np.array_equal(ramps[0], ramps[1])
        assert im.info["duration"] == 250
    assert not [p for p in tmp_path.iterdir() if p.name != "x.gif"]  # no temporary left


# ----------------------------------------------------------------------------- legibility


def test_optimizer_styles_are_distinct_and_from_the_palette():
    styles = viz.OPTIMIZER_STYLE
    assert {"SGD", "NAG", "SAM", "MSAM", "AdamW", "AdamWMSAM"} <= set(styles)
    assert all(s["color"] in PALETTE for s in styles.values())
    for key in ("color", "marker", "linestyle"):
        values = [str(s[key]) for s in styles.values()]
        assert len(set(values)) == len(values), f"two optimizers share a {key}"
    assert viz.COLORS == {n: s["color"] for n, s in styles.items()}
    assert viz.optimizer_style("msam") == styles["MSAM"]
    unknown = [viz.optimizer_style("mine", i) for i in range(3)]
    assert len({(s["color"], s["marker"]) for s in unknown}) == 3
    assert all(s["color"] in PALETTE for s in unknown)


def test_rc_params_cycle_through_the_palette():
    colors = [c["color"] for c in viz.rc_params()["axes.prop_cycle"]]
    assert set(colors) == PALETTE and colors[0] == viz.OKABE_ITO["blue"]


def test_step_parts_differ_in_colour_and_line_style():
    parts = [viz.PART_STYLE[p] for p in ("perturbation", "momentum", "gradient")]
    assert len({p["color"] for p in parts}) == 3 and len({p["linestyle"] for p in parts}) == 2
    assert all(p["color"] in PALETTE for p in parts)
    # none is the colour of a toy-figure optimizer, so arrows never read as a path
    toy = {viz.COLORS[n] for n in ("SGD", "NAG", "SAM", "MSAM")}
    assert not toy & {p["color"] for p in parts}


def test_plot_histories_styles_and_staggers_markers():
    ax = Figure().subplots()
    history = [{"epoch": e, "test_acc": 0.5} for e in range(1, 31)]
    lines = viz.plot_histories(ax, {n: history for n in ("SGD", "NAG", "SAM", "MSAM")})
    keys = {(to_hex(ln.get_color()), ln.get_marker(), ln.get_linestyle()) for ln in lines}
    assert len(keys) == 4  # identical data, still four distinguishable lines
    for line, name in zip(lines, ("SGD", "NAG", "SAM", "MSAM")):
        assert to_hex(line.get_color()) == viz.OPTIMIZER_STYLE[name]["color"].lower()
    starts = [ln.get_markevery()[0] for ln in lines]
    assert len(set(starts)) == 4  # markers at different epochs: no marker hides another
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "test acc"


def test_contour_labels_the_axes(surface):
    ax = Figure().subplots()
    viz.contour(ax, surface, n=20)
    assert ax.get_xlabel() and ax.get_ylabel()


@pytest.mark.parametrize("where", ["below", "right"])
def test_legend_outside_does_not_cover_the_axes(where):
    fig = Figure(figsize=(4, 3), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a line")
    legend = viz.legend_outside(ax, where)
    fig.canvas.draw()
    box, area = legend.get_window_extent(), ax.get_window_extent()
    assert not box.overlaps(area)
    with pytest.raises(ValueError, match="below"):
        viz.legend_outside(ax, "inside")


@pytest.mark.parametrize("name, pair", [("MSAM", ("perturbation", "momentum")),
                                        ("SAM", ("perturbation", "gradient"))])  # fmt: skip
def test_draw_step_separates_arrows_on_one_line(name, pair, surface):
    # MSAM perturbs along -v (the momentum's own line); SAM's gradient part runs back
    # along its perturbation: each pair is drawn side by side, not on top of each other
    fig = Figure(figsize=(4, 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_aspect("equal")
    step = traced(name, surface)[5]
    drawn = viz.draw_step(ax, step)
    ax.set_xlim(*viz.step_window([step])[0])
    ax.set_ylim(*viz.step_window([step])[1])
    fig.canvas.draw()
    (a0, a1), (b0, _) = (drawn[p].get_transform().transform(drawn[p]._posA_posB) for p in pair)
    u = (a1 - a0) / np.linalg.norm(a1 - a0)
    r = b0 - a0
    gap = abs(u[0] * r[1] - u[1] * r[0])  # pixels between the two arrows' lines on the page
    assert gap > 3


def test_label_step_names_the_three_points(surface):
    ax = Figure().subplots()
    texts = viz.label_step(ax, traced("MSAM", surface)[3], 3)
    assert {k: t.get_text() for k, t in texts.items()} == {
        "w": "$w_{3}$",
        "w_tilde": "$\\tilde w_{3}$",
        "w_next": "$w_{4}$",
    }
    sgd = viz.label_step(Figure().subplots(), traced("SGD", surface)[3])
    assert set(sgd) == {"w", "w_next"}  # SGD takes its gradient at w_t itself


def test_step_legend_uses_the_tilde_symbol_only_where_there_is_one():
    ax = Figure().subplots()
    texts = [t.get_text() for t in viz.step_legend(ax, ["perturbation", "gradient"]).get_texts()]
    assert all("\\tilde w" in t for t in texts)
    texts = [t.get_text() for t in viz.step_legend(ax, ["momentum", "gradient"]).get_texts()]
    assert "g(w_t)" in texts[1]
    nag = [t.get_text() for t in viz.step_legend(ax, ["lookahead", "gradient"]).get_texts()]
    assert "a_t = w_t" in nag[0] and "g(a_t)" in nag[1]  # NAG's look-ahead is a_t
    alone = viz.step_legend(ax, ["momentum", "gradient_applied"], gradient_point=viz.TILDE_W)
    assert "g(\\tilde w_t)" in alone.get_texts()[1].get_text()


def test_label_step_names_nags_look_ahead_a_t(surface):
    texts = viz.label_step(Figure().subplots(), traced("NAG", surface)[3], 3)
    assert texts["w_tilde"].get_text() == "$a_{3}$"


def test_draw_tape_draws_each_pass_and_labels_shares_and_adjoints():
    # the tape of f = 3 x (a constant times a leaf): one gradient edge and one constant edge
    fig = Figure()
    ax = fig.subplots()
    positions = {"x": (0, 0.0), "k": (0, 1.0), "f": (1, 0.5)}
    viz.draw_tape(ax, {"x": 2.0, "f": 6.0}, positions, {("f", "x"): 3.0}, {"x": 3.0, "f": 1.0},
                  labels={"f": "f = 3x"}, constants={"k": ("constant 3", "f")})  # fmt: skip
    with_arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(with_arrows) == 3  # forward and backward for x, forward only for the constant
    texts = [t.get_text() for t in ax.texts]
    assert "$+3.000$" in texts  # the share sent back to x
    assert "$f = 3x$\n$= +6.000$" in texts and "$x$\n$= +2.000$" in texts
    assert r"$\bar{x} = +3.000$" in texts and r"$\bar{f} = +1.000$" in texts
    assert "constant 3" in texts and not any(r"\bar{k}" in t for t in texts)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["generation 0", "generation 1"]
    colors = {to_hex(t.arrow_patch.get_edgecolor()) for t in with_arrows}
    assert to_hex(viz.OKABE_ITO["vermillion"]) in {c.lower() for c in colors}


def test_tape_arrows_meet_a_box_in_the_order_of_their_other_ends():
    # f = b + c with c above f and b below it: at f's left side, c's pair of arrows sits
    # above b's (so that they do not cross there), each forward arrow above its backward one
    positions = {"c": (0, 2.0), "b": (0, 0.0), "f": (1, 1.0)}
    lane = viz._tape_lanes(positions, [("c", "f"), ("b", "f")], backward={("c", "f"), ("b", "f")})
    at_f = [lane["c", "f", "forward", "f"], lane["c", "f", "backward", "f"]]
    at_f += [lane["b", "f", "forward", "f"], lane["b", "f", "backward", "f"]]
    assert at_f == sorted(at_f, reverse=True) and len(set(at_f)) == 4
    assert np.isclose(np.mean(at_f), 1.0)  # centred on the box
    assert lane["c", "f", "forward", "c"] > lane["c", "f", "backward", "c"]  # one edge: a pair


def test_share_labels_sit_beside_their_arrow_whatever_its_slope():
    # the offset is normal to the segment as drawn, points down, and clears a 30 x 12 pt box
    fig = Figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.set(xlim=(0, 1), ylim=(0, 1))
    horizontal = viz._beside_segment(ax, (0.9, 0.5), (0.1, 0.5))
    assert np.allclose(horizontal, (0.0, -(6.0 + 3.0)))
    for start, end in [((0.9, 0.9), (0.1, 0.1)), ((0.9, 0.1), (0.1, 0.9))]:
        offset = np.array(viz._beside_segment(ax, start, end))
        along = np.diff(ax.transData.transform([start, end]), axis=0)[0]
        assert abs(offset @ along) < 1e-9 * np.linalg.norm(along) * np.linalg.norm(offset)
        assert offset[1] < 0 and np.linalg.norm(offset) > 9.0
