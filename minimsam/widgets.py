"""Step plots with sliders for the tutorials: move lr, momentum and rho, see every step.

Two functions::

    from minimsam import widgets

    widgets.redraw(fig, "msam", lr=0.01, momentum=0.9, rho=0.3)      # pure drawing
    explorer = widgets.step_explorer("msam", lr=0.01, momentum=0.9, rho=0.3)

:func:`redraw` runs one optimizer on a toy surface (:mod:`minimsam.data.landscapes`)
with :func:`minimsam.viz.trace_steps` and draws the path and the arrows of a few
steps (:func:`minimsam.viz.draw_step`) into a matplotlib Figure (two panels: the whole
path, and a zoom on the chosen steps) or into one Axes (path and arrows). It needs no
widgets and is what the tests call.

:func:`step_explorer` shows sliders for ``lr``, ``momentum`` and (for SAM and MSAM)
``rho`` above the figure, and redraws the figure in place (:func:`redraw`) when a slider
is released, when ipywidgets is installed and a live Jupyter kernel runs the code.
Otherwise (a script, a static rendering, ipywidgets missing) it draws one static figure
with the given values and returns it. Install the widgets with
``pip install "minimsam[tutorials]"``.

Why not ``ipywidgets.interact``: ``interact`` prints its figure into an ``Output`` widget.
A notebook run in batch (``jupyter nbconvert --execute``, nbmake, myst-nb: all nbclient)
then imitates the front end's Output widget and sends each captured output back to the
kernel on the shell channel while it waits on that same channel for the cell's reply.
On a loaded machine that reply can sit unread in the socket until the cell's timeout
(for ever without one): the hangs seen with live sliders. The explorer therefore shows
the figure with ``IPython.display.display(fig, display_id=True)`` and replaces it with
``handle.update(...)``; the batch client has nothing to send back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from minimsam import optim, viz
from minimsam.data import landscapes

__all__ = ["OPTIMIZERS", "Explorer", "StepPlot", "make_optimizer", "redraw", "step_explorer"]

#: The optimizers the explorer knows, by lower-case name, with their display names.
OPTIMIZERS = {"sgd": "SGD", "nag": "NAG", "sam": "SAM", "msam": "MSAM"}

#: The arrows each optimizer's step has (see :func:`minimsam.viz.draw_step`).
PARTS = {
    "sgd": ("momentum", "gradient"),
    "nag": ("lookahead", "momentum", "gradient"),
    "sam": ("perturbation", "momentum", "gradient"),
    "msam": ("perturbation", "momentum", "gradient"),
}


def make_optimizer(
    name: str, lr: float, momentum: float, rho: float = 0.0, weight_decay: float = 0.0
) -> Any:
    """``optim.SGD/NAG/SAM/MSAM`` for ``name`` (``rho`` is ignored by SGD and NAG)."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")
    if key == "sgd":
        return optim.SGD(lr=lr, momentum=momentum, weight_decay=weight_decay)
    if key == "nag":
        return optim.NAG(lr=lr, momentum=momentum, weight_decay=weight_decay)
    cls = optim.SAM if key == "sam" else optim.MSAM
    return cls(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay)


@dataclass
class StepPlot:
    """What :func:`redraw` drew: the traced steps, the axes, and the arrows per step.

    steps: the :class:`minimsam.viz.Step` list of the run.
    axes: the axes drawn into (path first, then the zoom when a Figure was given).
    arrows: for each detail step, the ``{part: artist}`` dict of ``viz.draw_step``.
    """

    steps: list
    axes: list
    arrows: list = field(default_factory=list)


@dataclass
class Explorer:
    """The live step explorer that :func:`step_explorer` shows in a Jupyter kernel.

    widget: the ``ipywidgets.VBox`` of the sliders (its ``children``).
    sliders: ``{"lr": slider, "momentum": slider[, "rho": slider]}``.
    handle: the ``IPython.display.DisplayHandle`` of the figure below the sliders.
    redraw: draws the figure for the sliders' current values and updates ``handle``.
    """

    widget: Any
    sliders: dict[str, Any]
    handle: Any
    redraw: Any

    def __repr__(self) -> str:
        return f"Explorer(sliders: {', '.join(self.sliders)})"


def _window(steps: Sequence[Any], surface: Any) -> Any:
    """The zoom window around ``steps``, or the surface's bounds if they are degenerate.

    One step alone gets a wider margin (0.3 of its size on each side, not 0.15), so that
    the names :func:`viz.label_step` puts 20 pt beside its points stay inside the panel.
    """
    try:
        return viz.step_window(steps, pad=0.3 if len(steps) == 1 else 0.15)
    except ValueError:
        return surface.bounds


def redraw(
    target: Any,
    optimizer: str,
    *,
    lr: float,
    momentum: float,
    rho: float = 0.0,
    weight_decay: float = 0.0,
    surface: str = "quadratic",
    start: Sequence[float] | None = None,
    num_steps: int = 40,
    detail: tuple[int, int] = (7, 9),
) -> StepPlot:
    """Run ``optimizer`` for ``num_steps`` on ``surface`` and draw it into ``target``.

    target: a matplotlib Figure (cleared, then two panels: the whole path, and a zoom
        on steps ``detail[0] .. detail[1] - 1`` with their arrows) or an Axes (cleared,
        then the path and those arrows in one panel).
    optimizer: ``"sgd"``, ``"nag"``, ``"sam"`` or ``"msam"`` (see :data:`OPTIMIZERS`).
    lr, momentum, rho, weight_decay: the optimizer's hyperparameters.
    start: the first iterate (default: the surface's ``start``).
    """
    key = optimizer.lower()
    opt = make_optimizer(key, lr, momentum, rho, weight_decay)
    land = landscapes.get(surface)
    steps = viz.trace_steps(opt, land.grad_fn(), land.start if start is None else start, num_steps)
    first, last = max(0, detail[0]), min(num_steps, detail[1])
    shown = steps[first:last]
    name, color = OPTIMIZERS[key], viz.COLORS[OPTIMIZERS[key]]
    settings = f"lr {lr:g}, momentum {momentum:g}" + (
        f", $\\rho$ {rho:g}" if key in ("sam", "msam") else ""
    )
    if hasattr(target, "add_subplot"):  # a Figure: path and zoom side by side
        target.clear()
        axes = list(target.subplots(1, 2))
    else:
        target.cla()
        axes = [target]
    ax = axes[0]
    viz.contour(ax, land)
    viz.trajectory(ax, viz.path(steps), label=name, color=color)
    ax.set_title(f"{name}: {num_steps} steps\n{settings}", fontsize=10)
    zoom = axes[-1]
    if len(axes) == 2:
        window = _window(shown, land) if shown else land.bounds
        viz.contour(zoom, land, bounds=window, mark_minima=False)
        if len(shown) == 1:  # one step: the path in pale grey, so its arrows and names stand out
            viz.trajectory(zoom, viz.path(steps), color="0.75", markersize=4, zorder=2)
        else:
            viz.trajectory(zoom, viz.path(steps), color=color, markersize=5)
        zoom.set_xlim(*window[0])
        zoom.set_ylim(*window[1])
        zoom.locator_params(axis="x", nbins=4)  # tick labels of a narrow window apart
        steps_shown = f"step {first}" if len(shown) == 1 else f"steps {first} to {last - 1}"
        zoom.set_title(steps_shown if shown else "no step to zoom on", fontsize=10)
    # one step alone: arrows along one line drawn farther apart, so neither hides the other
    separation = 2.0 * 2.6 if len(shown) == 1 else None
    arrows = [viz.draw_step(zoom, s, separation=separation) for s in shown]
    if len(axes) == 2 and len(shown) == 1:
        viz.label_step(zoom, shown[0], t=first, fontsize=10)
    present = {part for drawn in arrows for part in drawn}
    parts = [p for p in (*PARTS[key], "gradient_applied") if p in present]
    # below the panels, so that both keep their width; 9 pt stays readable at page width
    below = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.16), "fontsize": 9, "frameon": False}
    legend = viz.step_legend(zoom, parts, **below)
    if len(axes) == 2:
        from matplotlib.lines import Line2D

        if len(shown) == 1:  # name the pale path too
            grey = Line2D([], [], color="0.75", marker="o", markersize=4, label=f"{name}'s path")
            zoom.legend(handles=[*legend.legend_handles, grey], **below)
        ax.legend(handles=_overview_handles(ax, len(land.minima)), **below)
    for a in axes:
        a.set_xlabel("$x$ (first coordinate of $w$)")
        a.set_ylabel("$y$ (second coordinate of $w$)")
    return StepPlot(steps=steps, axes=axes, arrows=arrows)


def _overview_handles(ax: Any, num_minima: int) -> list[Any]:
    """Legend handles of the overview panel: the path as drawn, its start, the minima."""
    from matplotlib.lines import Line2D

    (line,) = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    path = Line2D([], [], color=line.get_color(), marker=line.get_marker(), markersize=4,
                  linestyle=line.get_linestyle(),
                  label=f"{line.get_label()} iterates $w_t$")  # fmt: skip
    start = Line2D([], [], marker="s", markersize=7, color=line.get_color(),
                   markeredgecolor="k", linestyle="none", label="start")  # fmt: skip
    minima = Line2D([], [], marker="*", markersize=12, color="white", markeredgecolor="k",
                    linestyle="none", label="minima" if num_minima > 1 else "minimum")  # fmt: skip
    return [path, start, minima]


def _live_kernel() -> bool:
    """True when the code runs in a Jupyter kernel (widgets can be displayed).

    ``MINIMSAM_STATIC_FIGURES=1`` answers False: a notebook executed for a static page
    (the website build) then stores the fallback figure instead of widget state that no
    static page can run.
    """
    if os.environ.get("MINIMSAM_STATIC_FIGURES", "") not in ("", "0"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _ipywidgets() -> Any:
    """The ``ipywidgets`` module, or None when it is not installed."""
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def step_explorer(
    optimizer: str,
    *,
    lr: float,
    momentum: float,
    rho: float = 0.0,
    figsize: tuple[float, float] = (13.0, 4.8),
    max_lr: float | None = None,
    **kwargs: Any,
) -> Any:
    """Sliders for ``lr``, ``momentum`` and ``rho`` over :func:`redraw`, or one static figure.

    With ipywidgets and a live kernel: displays the sliders and the figure and returns an
    :class:`Explorer` (its ``.widget`` holds the sliders); ``lr`` ranges over ``[lr / 10, max_lr]``
    (default ``10 * lr``) on a log scale, ``momentum`` over ``[0, 0.99]``, ``rho``
    over ``[0, 1]`` (SAM and MSAM only; SGD and NAG have no ``rho``). Otherwise: draws
    the figure for the given values and returns the matplotlib Figure. ``kwargs`` go
    to :func:`redraw` (``surface``, ``start``, ``num_steps``, ``detail``, ``weight_decay``).
    """
    import matplotlib.pyplot as plt

    key = optimizer.lower()
    make_optimizer(key, lr, momentum, rho)  # fail now, not inside a callback

    def draw(lr: float, momentum: float, rho: float = rho) -> Any:
        fig = plt.figure(figsize=figsize, layout="constrained")
        redraw(fig, key, lr=lr, momentum=momentum, rho=rho, **kwargs)
        return fig

    widgets = _ipywidgets()
    if widgets is None or not _live_kernel():
        return draw(lr, momentum, rho)
    top = max_lr if max_lr is not None else 10 * lr
    sliders: dict[str, Any] = {
        "lr": widgets.FloatLogSlider(
            value=lr, base=10, min=_log10(lr / 10), max=_log10(top), step=0.05,
            description="lr", continuous_update=False, readout_format=".4f",
        ),
        "momentum": widgets.FloatSlider(
            value=momentum, min=0.0, max=0.99, step=0.01, description="momentum",
            continuous_update=False,
        ),
    }  # fmt: skip
    if key in ("sam", "msam"):  # SGD and NAG have no rho: no slider
        sliders["rho"] = widgets.FloatSlider(
            value=rho, min=0.0, max=1.0, step=0.05, description="rho", continuous_update=False
        )
    return _show_live(widgets, sliders, draw)


def _show_live(widgets: Any, sliders: dict[str, Any], draw: Any) -> Explorer:
    """Display the sliders, then the figure; a released slider replaces the figure in place.

    The figure is an ordinary display output with a display id (no ``Output`` widget), so
    a batch run of the notebook has no widget output to send back to the kernel.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    def figure() -> Any:
        fig = draw(**{name: slider.value for name, slider in sliders.items()})
        plt.close(fig)  # shown through the display handle only, not again at the cell's end
        return fig

    box = widgets.VBox(list(sliders.values()))
    display(box)
    handle = display(figure(), display_id=True)

    def redraw_now(_change: Any = None) -> None:
        handle.update(figure())

    for slider in sliders.values():
        slider.observe(redraw_now, names="value")
    return Explorer(widget=box, sliders=sliders, handle=handle, redraw=redraw_now)


def _log10(x: float) -> float:
    import math

    return math.log10(x)


# ----------------------------------------------------------------------------- rates on a quadratic


def draw_rates(
    fig: Any,
    lr: float,
    momentum: float,
    *,
    curvatures: Sequence[float] = (landscapes.QUADRATIC_A, landscapes.QUADRATIC_B),
    start: Sequence[float] = (-1.5, 2.5),
    num_steps: int = 120,
) -> dict[str, tuple[float, float]]:
    """Predicted against measured rates of GD, heavy ball and NAG on ``sum c_i w_i^2 / 2``.

    ``fig`` (a Figure, cleared) gets two panels: the distance ``||w_t - w*||`` of runs of
    ``optim.SGD(lr)`` (GD), ``optim.SGD(lr, momentum)`` (heavy ball) and
    ``optim.NAG(lr, momentum)``, each with its predicted slope ``||w_0|| rate^t`` (dashed);
    and the predicted rate against the momentum at this ``lr`` (lines) with measured rates
    (markers). Returns ``{name: (predicted, measured)}``; measured over the last two thirds
    of the run (``nan`` where a run overflows).
    """
    import numpy as np

    from minimsam import tutorial

    fig.clear()
    ax_run, ax_mu = fig.subplots(1, 2)
    grad_fn = tutorial.quadratic_grad_fn(curvatures)
    first = num_steps // 3
    runs = {"GD": ("SGD", 0.0), "SGD": ("SGD", momentum), "NAG": ("NAG", momentum)}

    def measure(method: str, mu: float) -> tuple[np.ndarray, float]:
        opt = optim.NAG(lr=lr, momentum=mu) if method == "NAG" else optim.SGD(lr=lr, momentum=mu)
        with np.errstate(over="ignore", invalid="ignore"):
            dist = tutorial.distances_to_minimum(opt, grad_fn, start, num_steps)
            ok = np.all(np.isfinite(dist)) and dist.max() < 1e150 and dist.min() > 0
        return dist, tutorial.measured_rate(dist, first, num_steps + 1) if ok else float("nan")

    out = {}
    for name, (method, mu) in runs.items():
        dist, rate = measure(method, mu)
        predicted = tutorial.quadratic_rate(method, lr, mu, curvatures)
        out[name] = (predicted, rate)
        style = {**viz.optimizer_style(name), "markevery": 10} if name != "GD" else {
            "color": "k", "marker": "x", "linestyle": ":", "markevery": 10}  # fmt: skip
        label = "GD" if name == "GD" else ("heavy ball" if name == "SGD" else "NAG")
        ax_run.semilogy(dist, label=f"{label}: measured {rate:.3f}", **style)
        t = np.arange(num_steps + 1)
        with np.errstate(over="ignore"):
            ax_run.semilogy(t, dist[0] * predicted**t, color=style["color"], linestyle="--",
                            linewidth=0.9, label=f"{label}: predicted {predicted:.3f}")  # fmt: skip
    ax_run.set_ylim(max(1e-16, ax_run.get_ylim()[0]), min(1e6, ax_run.get_ylim()[1]))
    ax_run.set(xlabel="step $t$", ylabel=r"$\|w_t - w^\star\|$ ($w^\star$: the minimum)",
               title=f"lr {lr:.4g}, momentum {momentum:.2f}")  # fmt: skip
    viz.legend_outside(ax_run, "below", ncols=1)
    mus = np.linspace(0.0, 0.99, 100)
    grid = np.linspace(0.0, 0.9, 7)
    top, off_scale = 1.2, []  # the rate axis ends at `top`; name the curves above it
    for name in ("SGD", "NAG"):
        style = viz.optimizer_style(name)
        label = "heavy ball" if name == "SGD" else "NAG"
        curve = [tutorial.quadratic_rate(name, lr, m, curvatures) for m in mus]
        shown = min(curve) <= top  # a curve entirely above the axis gets a note, not a label
        if not shown:
            off_scale.append(f"{label}: off scale, predicted rate {min(curve):.2f} or more")
        ax_mu.plot(mus, curve, color=style["color"], linestyle=style["linestyle"],
                   label=f"{label}, predicted" if shown else None)  # fmt: skip
        ax_mu.plot(grid, [measure(name, m)[1] for m in grid], linestyle="none",
                   marker=style["marker"], color=style["color"], mec="k",
                   label=f"{label}, measured" if shown else None)  # fmt: skip
    largest, smallest = max(curvatures), min(curvatures)
    ax_mu.axhline(tutorial.tuned_gradient_descent(largest, smallest)[1], color="k", linestyle=":",
                  label="best GD (any lr)")  # fmt: skip
    ax_mu.axhline(tutorial.tuned_heavy_ball(largest, smallest)[2], color="grey", linestyle="-.",
                  label="best heavy ball (any lr, momentum)")  # fmt: skip
    ax_mu.axvline(momentum, color="grey", linewidth=0.8,
                  label=f"momentum of the runs on the left, {momentum:.2f}")  # fmt: skip
    for note in off_scale:  # in the legend, where no line runs through it
        ax_mu.plot([], [], linestyle="none", label=f"{note} (> {top})")
    ax_mu.set(xlabel=r"momentum $\mu$", ylabel="rate: factor per step (lower is faster)",
              ylim=(0.0, top), title=f"rate against momentum at lr {lr:.4g}")  # fmt: skip
    viz.legend_outside(ax_mu, "below", ncols=1)
    return out


def rate_explorer(lr: float, momentum: float, figsize: tuple[float, float] = (9.0, 7.0),
                  **kwargs: Any) -> Any:  # fmt: skip
    """Sliders for ``lr`` and ``momentum`` over :func:`draw_rates`, or one static figure.

    Like :func:`step_explorer`: with ipywidgets and a live kernel it returns the
    ``ipywidgets.interact`` function; otherwise it draws the figure for the given values
    and returns ``(figure, rates)`` with ``rates`` as :func:`draw_rates` returns them.
    ``lr`` ranges over ``[lr / 10, 10 lr]`` on a log scale, ``momentum`` over ``[0, 0.99]``.
    """
    import matplotlib.pyplot as plt

    def draw(lr: float, momentum: float) -> tuple[Any, dict]:
        fig = plt.figure(figsize=figsize, layout="constrained")
        return fig, draw_rates(fig, lr, momentum, **kwargs)

    widgets = _ipywidgets()
    if widgets is None or not _live_kernel():
        return draw(lr, momentum)

    def update(lr: float, momentum: float) -> None:
        draw(lr, momentum)
        plt.show()

    return widgets.interact(
        update,
        lr=widgets.FloatLogSlider(value=lr, base=10, min=_log10(lr / 10), max=_log10(10 * lr),
                                  step=0.05, description="lr", continuous_update=False,
                                  readout_format=".4f"),
        momentum=widgets.FloatSlider(value=momentum, min=0.0, max=0.99, step=0.01,
                                     description="momentum", continuous_update=False),
    )  # fmt: skip
