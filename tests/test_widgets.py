"""minimsam.widgets (the tutorials' step plots with sliders) and minimsam.tutorial helpers."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim, tutorial, viz, widgets
from minimsam.data import landscapes

plt = pytest.importorskip("matplotlib.pyplot")
from matplotlib.patches import FancyArrowPatch  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


@pytest.mark.parametrize(
    "name, rho, parts",
    [
        ("sgd", 0.0, {"momentum", "gradient"}),
        ("nag", 0.0, {"lookahead", "momentum", "gradient"}),
        ("sam", 0.3, {"perturbation", "momentum", "gradient"}),
        ("msam", 0.3, {"perturbation", "momentum", "gradient"}),
    ],
)
def test_redraw_on_a_figure_draws_path_zoom_and_the_arrows_of_each_step(name, rho, parts):
    fig = plt.figure()
    drawn = widgets.redraw(fig, name, lr=0.01, momentum=0.9, rho=rho, num_steps=12, detail=(3, 5))
    assert len(drawn.steps) == 12 and len(drawn.axes) == 2 and fig.axes[:2] == drawn.axes
    overview, zoom = drawn.axes
    path = viz.path(drawn.steps)
    (line,) = [ln for ln in overview.get_lines() if ln.get_label() == widgets.OPTIMIZERS[name]]
    np.testing.assert_allclose(np.column_stack(line.get_data()), path)
    assert line.get_color() == viz.COLORS[widgets.OPTIMIZERS[name]]
    assert [set(a) - {"gradient_applied"} for a in drawn.arrows] == [parts, parts]
    assert len(_arrows(zoom)) >= 2 * len(parts - {"lookahead"})
    legend = [t.get_text() for t in zoom.get_legend().get_texts()]
    applied = any("gradient_applied" in a for a in drawn.arrows)  # the dotted copy is drawn
    assert len(legend) == len(parts) + applied
    assert applied == any("applied after the momentum" in text for text in legend)
    for ax in drawn.axes:
        assert ax.get_xlabel() and ax.get_ylabel()
    assert widgets.OPTIMIZERS[name] in overview.get_title()
    assert ("rho" in overview.get_title()) == (name in ("sam", "msam"))


def test_redraw_follows_the_settings():
    fig = plt.figure()
    slow = widgets.redraw(fig, "msam", lr=0.002, momentum=0.5, rho=0.1, num_steps=10)
    fast = widgets.redraw(fig, "msam", lr=0.02, momentum=0.9, rho=0.1, num_steps=10)
    assert len(fig.axes) == 2  # redrawing clears the figure
    start = np.array(landscapes.get("quadratic").start)
    moved = [np.linalg.norm(viz.path(r.steps)[-1] - start) for r in (slow, fast)]
    assert moved[0] < moved[1]
    # rho sets the length of MSAM's perturbation arrow (from step 1 on, where v != 0)
    for rho in (0.1, 0.5):
        drawn = widgets.redraw(fig, "msam", lr=0.01, momentum=0.9, rho=rho, num_steps=4)
        s = drawn.steps[2]
        assert np.linalg.norm(s.points["w_perturbed"] - s.points["w"]) == pytest.approx(rho)


def test_redraw_matches_the_optimizer_run_directly():
    surface = landscapes.get("quadratic")
    fig = plt.figure()
    drawn = widgets.redraw(fig, "sam", lr=0.01, momentum=0.8, rho=0.2, num_steps=6)
    direct = viz.trace_steps(optim.SAM(lr=0.01, momentum=0.8, rho=0.2), surface.grad_fn(),
                             surface.start, 6)  # fmt: skip
    np.testing.assert_allclose(viz.path(drawn.steps), viz.path(direct))


def test_redraw_into_one_axes_and_on_another_surface():
    _, ax = plt.subplots()
    drawn = widgets.redraw(ax, "sgd", lr=0.05, momentum=0.0, surface="sharp-flat", num_steps=5,
                           detail=(0, 2))  # fmt: skip
    assert drawn.axes == [ax]
    assert ax.get_legend() is not None  # the step legend, placed outside the axes
    # without momentum there is no momentum arrow: only the gradient part is drawn
    assert [set(a) for a in drawn.arrows] == [{"gradient"}, {"gradient"}]


def test_redraw_rejects_an_unknown_optimizer():
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        widgets.redraw(plt.figure(), "adam", lr=0.1, momentum=0.9)


def test_step_explorer_draws_a_static_figure_without_ipywidgets(monkeypatch):
    real_import = builtins.__import__

    def no_ipywidgets(name, *args, **kwargs):
        if name == "ipywidgets" or name.startswith("ipywidgets."):
            raise ImportError("No module named 'ipywidgets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ipywidgets)
    monkeypatch.setattr(widgets, "_live_kernel", lambda: True)  # even inside a kernel
    fig = widgets.step_explorer("nag", lr=0.01, momentum=0.9, num_steps=8, detail=(2, 4))
    assert isinstance(fig, plt.Figure)
    assert len(fig.axes) == 2 and "NAG" in fig.axes[0].get_title()


def test_step_explorer_without_a_kernel_is_static():
    pytest.importorskip("ipywidgets")
    fig = widgets.step_explorer("sam", lr=0.01, momentum=0.9, rho=0.2, num_steps=6)
    assert isinstance(fig, plt.Figure)  # pytest runs no Jupyter kernel


def test_step_explorer_builds_sliders_in_a_kernel(monkeypatch):
    ipywidgets = pytest.importorskip("ipywidgets")
    import IPython.display

    shown = []

    class Handle:  # what display(..., display_id=True) returns in a kernel
        def update(self, obj):
            shown.append(("update", obj))

    def display(obj, display_id=False):
        shown.append(("display", obj))
        return Handle() if display_id else None

    monkeypatch.setattr(widgets, "_live_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    ui = widgets.step_explorer("msam", lr=0.01, momentum=0.9, rho=0.3, num_steps=6)
    names = {getattr(c, "description", None) for c in ui.widget.children}
    assert {"lr", "momentum", "rho"} <= names
    assert [kind for kind, _ in shown] == ["display", "display"]
    assert shown[0][1] is ui.widget and isinstance(shown[1][1], plt.Figure)
    assert "MSAM" in shown[1][1].axes[0].get_title() and "0.3" in shown[1][1].axes[0].get_title()
    ui.sliders["rho"].value = 0.6  # a released slider replaces the figure in place
    assert shown[-1][0] == "update" and "0.6" in shown[-1][1].axes[0].get_title()
    # No Output widget: a batch run (nbclient) would send its captured outputs back to the
    # kernel on the shell channel while it waits there for the cell's reply.
    assert not any(isinstance(obj, ipywidgets.Output) for _, obj in shown)
    assert not any(isinstance(child, ipywidgets.Output) for child in ui.widget.children)
    sgd = widgets.step_explorer("sgd", lr=0.01, momentum=0.9, num_steps=6)
    assert "rho" not in {getattr(c, "description", None) for c in sgd.widget.children}


def test_sharp_flat_closed_form_gradient_matches_autodiff():
    surface = landscapes.get("sharp-flat")
    reference, fast = surface.grad_fn(), tutorial.sharp_flat_grad_fn()
    for w in np.random.default_rng(0).uniform(-2, 2, size=(20, 2)):
        (la, ga), (lb, gb) = reference({"w": ms.asarray(w)}), fast({"w": ms.asarray(w)})
        assert float(lb) == pytest.approx(float(la), abs=1e-12)
        np.testing.assert_allclose(ms.to_numpy(gb["w"]), ms.to_numpy(ga["w"]), atol=1e-12)


def test_final_points_which_well_and_sam_loss():
    surface = landscapes.get("sharp-flat")
    sharp, flat = (np.array(m) for m in surface.minima)
    starts = np.array([sharp + [0.02, 0.0], flat + [0.1, 0.1]])
    ends = tutorial.final_points(lambda: optim.SGD(lr=0.05), starts, 200,
                                 tutorial.sharp_flat_grad_fn())  # fmt: skip
    assert list(tutorial.which_well(ends, surface)) == ["sharp", "flat"]
    assert list(tutorial.which_well([[3.0, 3.0]], surface)) == ["elsewhere"]
    values, points = tutorial.sam_loss(np.array([sharp + [0.05, 0.0]]), rho=0.3)
    assert np.linalg.norm(points[0] - sharp - [0.05, 0.0]) == pytest.approx(0.3)
    assert values[0] > tutorial.sharp_flat_grad(sharp)[0]  # the ascent step climbs


def test_static_figures_are_forced_by_the_environment(monkeypatch):
    """A notebook executed for the static website stores a figure, not widget state."""
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv("MINIMSAM_STATIC_FIGURES", "1")
    assert widgets._live_kernel() is False
    fig = widgets.step_explorer("msam", lr=0.01, momentum=0.9, rho=0.3, num_steps=6)
    assert isinstance(fig, plt.Figure)


def test_redraw_names_the_overview_markers_and_the_pale_path_of_a_one_step_zoom():
    fig = plt.figure()
    drawn = widgets.redraw(fig, "sam", lr=0.05, momentum=0.9, rho=0.1, surface="sharp-flat",
                           num_steps=20, detail=(10, 11))  # fmt: skip
    overview, zoom = drawn.axes
    names = [t.get_text() for t in overview.get_legend().get_texts()]
    assert names == ["SAM iterates $w_t$", "start", "minima"]
    assert "SAM's path" in [t.get_text() for t in zoom.get_legend().get_texts()]
    fig.canvas.draw()  # both legends sit below their panels, off the data
    for ax in drawn.axes:
        assert ax.get_legend().get_window_extent().y1 <= ax.get_window_extent().y0
