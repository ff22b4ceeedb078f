"""Helpers the tutorial notebooks import: many toy runs at once, SAM's loss, small plots.

- :func:`sharp_flat_grad_fn`: the gradient of the ``"sharp-flat"`` surface of
  :mod:`minimsam.data.landscapes` in closed form (NumPy), a drop-in ``grad_fn`` for
  ``opt.step`` about ten times faster than the autodiff one, so that the notebooks can
  run hundreds of short trajectories within their time budget. The tests check it
  against ``surface.grad_fn()`` to rounding.
- :func:`final_points` runs fresh optimizers from many starts; :func:`which_well`
  names the well each end point lies in.
- :func:`sam_loss` is SAM's objective ``L(w + rho g/||g||)`` at given points.
- :func:`basin_panels` and :func:`well_bars` draw where runs from random starts end;
  :func:`local_maxima` finds the peaks of a sampled curve.
- :func:`sam_run_figure`, :func:`gradient_part_figure` and :func:`swing_figure` draw
  tutorial 03's figures of a SAM run, one step's parts and the swings near a minimum.
- :func:`interleaved_medians` times several functions in alternating rounds, and
  :func:`page_faults` counts the fresh memory pages a call takes (``None`` without the
  ``resource`` module, as on Windows): tutorial 01's cost measurements.
- :func:`median_interval` and :func:`timing_verdict` judge a median time ratio against its
  own uncertainty; :func:`seed_sweep_figure` and :func:`gap_figure` draw tutorial 05's
  radius sweep and differences to SGD against the seed-to-seed noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import viz
from minimsam.data import landscapes as _land
from minimsam.optim.base import EPS
from minimsam.timing import interleaved_medians

__all__ = [
    "SADDLE",
    "STRICT_CLAIMS_VARIABLE",
    "expect",
    "load_ipython_extension",
    "needs",
    "basin_panels",
    "final_points",
    "local_maxima",
    "sam_loss",
    "sharp_flat_grad",
    "sharp_flat_grad_fn",
    "gap_figure",
    "gradient_part_figure",
    "interleaved_medians",
    "page_faults",
    "median_interval",
    "seed_sweep_figure",
    "timing_verdict",
    "sam_run_figure",
    "swing_figure",
    "well_bars",
    "which_well",
]

#: Set to ``1`` (the tests do) to turn a claim that does not hold into an ``AssertionError``.
STRICT_CLAIMS_VARIABLE = "MINIMSAM_STRICT_CLAIMS"


def expect(holds: bool, claim: str, why_it_may_differ: str = "") -> None:
    """Check that the prose's ``claim`` holds for the numbers this run printed.

    A reader who changes a setting (``EPOCHS = 30``, another seed) gets a note naming the
    sentence that no longer holds and why it may not, and the notebook runs on. Under the
    tests, where ``MINIMSAM_STRICT_CLAIMS=1``, a claim that does not hold fails the run, so
    the committed prose and the committed settings can never drift apart. A claim that
    holds prints nothing (and returns nothing, so a cell that ends with it shows no ``True``).
    """
    import os

    if bool(holds):
        return
    if os.environ.get(STRICT_CLAIMS_VARIABLE, "") == "1":
        raise AssertionError(f"the text says: {claim}; this run does not show it")
    note = f"Note: the text says {claim}, but this run differs."
    if why_it_may_differ:
        note += f" It may: {why_it_may_differ}."
    print(note)


def needs(module: str, cell: str, namespace: dict) -> bool:
    """Run the code ``cell`` in ``namespace`` if ``import module`` works; whether it ran.

    The cell magic ``%%needs MODULE`` (after ``%load_ext minimsam.tutorial``) calls it, so
    that a notebook's cells for an optional dependency, such as tutorial 07's PyTorch
    sections, are skipped where it is not installed. An error inside the cell propagates,
    so the tests still see it.
    """
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        return False
    exec(compile(cell, f"<cell that needs {module}>", "exec"), namespace)
    return True


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext minimsam.tutorial``: registers the cell magic ``%%needs MODULE``."""

    def needs_magic(line: str, cell: str) -> None:
        needs(line.strip(), cell, ipython.user_ns)

    ipython.register_magic_function(needs_magic, magic_kind="cell", magic_name="needs")


#: The saddle point between the two wells of the sharp-flat surface (on ``y = 0``).
SADDLE = (-0.46764287618237907, 0.0)


def sharp_flat_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
    """``(L(w), grad L(w))`` of the sharp-flat surface at a host point ``w`` of shape ``(2,)``.

    With ``E_i = A_i exp(-|w - c_i|^2 / (2 s_i^2))`` (the two wells) and bowl ``k``::

        L(w)      = -E_1 - E_2 + k |w|^2 / 2
        grad L(w) = E_1 (w - c_1) / s_1^2 + E_2 (w - c_2) / s_2^2 + k w
    """
    w = np.asarray(w, dtype=float)
    loss, grad = 0.5 * _land.BOWL * float(w @ w), _land.BOWL * w
    for center, width, amplitude in (
        (_land.SHARP_CENTER, _land.SHARP_WIDTH, _land.SHARP_AMPLITUDE),
        (_land.FLAT_CENTER, _land.FLAT_WIDTH, _land.FLAT_AMPLITUDE),
    ):
        r = w - np.asarray(center)
        e = amplitude * np.exp(-float(r @ r) / (2 * width**2))
        loss -= e
        grad = grad + e * r / width**2
    return loss, grad


def sharp_flat_grad_fn() -> Callable[[dict], tuple[Any, dict]]:
    """A ``grad_fn(params) -> (loss, {"w": grad})`` for ``params = {"w": w}`` (exact gradient)."""

    def grad_fn(params: dict) -> tuple[Any, dict]:
        loss, grad = sharp_flat_grad(ms.to_numpy(params["w"]))
        return ms.asarray(loss), {"w": ms.asarray(grad)}

    return grad_fn


def final_points(
    make: Callable[[], Any],
    starts: np.ndarray,
    num_steps: int,
    grad_fn: Callable[[dict], tuple[Any, dict]],
) -> np.ndarray:
    """``w_T`` (via ``opt.eval_params``) of a fresh ``make()`` run from each start: ``(n, 2)``."""
    ends = []
    for start in np.asarray(starts, dtype=float):
        opt = make()
        params = {"w": ms.asarray(start)}
        state = opt.init(params)
        for _ in range(num_steps):
            params, state, _ = opt.step(params, state, grad_fn)
        ends.append(ms.to_numpy(opt.eval_params(params, state)["w"]))
    return np.array(ends, dtype=float)


def which_well(points: np.ndarray, surface: Any, radius: float = 0.3) -> np.ndarray:
    """For each point, ``"sharp"`` or ``"flat"`` if it lies within ``radius`` of that
    minimum of the sharp-flat ``surface`` (``surface.minima = (sharp, flat)``), else
    ``"elsewhere"`` (still moving, or stuck away from both minima)."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    out = np.full(len(points), "elsewhere", dtype=object)
    for label, minimum in zip(("sharp", "flat"), surface.minima):
        out[np.linalg.norm(points - np.asarray(minimum), axis=1) <= radius] = label
    return out


def sam_loss(points: np.ndarray, rho: float, grad: Callable = sharp_flat_grad) -> np.ndarray:
    """SAM's objective ``L(w + e)``, ``e = rho g(w) / (||g(w)|| + EPS)``, at each point.

    ``grad(w) -> (L(w), g(w))`` on host vectors (default: the sharp-flat surface).
    Returns ``(values, ends)``: the SAM loss and the perturbed points ``w + e``.
    """
    values, ends = [], []
    for w in np.asarray(points, dtype=float).reshape(-1, 2):
        _, g = grad(w)
        end = w + rho * g / (np.linalg.norm(g) + EPS)
        values.append(grad(end)[0])
        ends.append(end)
    return np.array(values), np.array(ends)


def basin_panels(
    axes: Sequence[Any],
    surface: Any,
    starts: np.ndarray,
    wells: Mapping[str, np.ndarray],
) -> None:
    """One panel per run: each start marked by the well its run ended in.

    ``wells[name]`` is :func:`which_well` of the runs' end points. Markers: flat well
    white circle, sharp well vermillion triangle, elsewhere black cross. Draw on a figure
    made with ``layout="constrained"``: the legend goes outside, below the panels.
    """
    styles = {
        "flat": {"marker": "o", "c": "white", "edgecolors": "k", "label": "ends in the flat well"},
        "sharp": {
            "marker": "^",
            "c": "#D55E00",  # Okabe-Ito vermillion
            "edgecolors": "k",
            "label": "ends in the sharp well",
        },
        "elsewhere": {"marker": "x", "c": "k", "label": "ends elsewhere"},
    }
    for ax, (name, well) in zip(axes, wells.items()):
        viz.contour(ax, surface, levels=20)
        for label, style in styles.items():
            mask = well == label
            ax.scatter(starts[mask, 0], starts[mask, 1], s=22, zorder=6, **style)
        ax.set_title(f"{name}: {np.mean(well == 'flat'):.0%} end in the flat well")
        ax.set_xlabel("$x$")
        ax.set_ylabel("$y$")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].figure.legend(handles, labels, loc="outside lower center", ncols=3)


def local_maxima(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The ``xs[i]`` where ``ys[i] >= ys[i - 1]`` and ``ys[i] >= ys[i + 1]`` (interior points)."""
    xs, ys = np.asarray(xs), np.asarray(ys)
    inner = (ys[1:-1] >= ys[:-2]) & (ys[1:-1] >= ys[2:])
    return xs[1:-1][inner]


def well_bars(ax: Any, wells: Mapping[str, np.ndarray], colors: Mapping[str, str]) -> None:
    """Stacked bars, one per run: the fractions of :func:`which_well` labels ``flat``
    (solid, labelled with its value), ``sharp`` (hatched ``//``) and ``elsewhere``
    (hatched ``..``), coloured by ``colors[name]``."""
    names = list(wells)
    bottom = np.zeros(len(names))
    for label, hatch in (("flat", ""), ("sharp", "//"), ("elsewhere", "..")):
        share = np.array([np.mean(wells[n] == label) for n in names])
        bars = ax.bar(names, share, bottom=bottom, hatch=hatch, label=f"ends {label}",
                      color=[colors[n] for n in names], alpha=1.0 if label == "flat" else 0.4,
                      edgecolor="k")  # fmt: skip
        if label == "flat":
            ax.bar_label(bars, labels=[f"{s:.2f}" for s in share], label_type="center")
        bottom += share
    ax.set_ylabel(f"fraction of {len(next(iter(wells.values())))} starts")


def sam_loss_plot(
    ax: Any,
    xs: np.ndarray,
    loss: np.ndarray,
    sam_curves: Mapping[float, np.ndarray],
    saddle_x: float,
    rho: float,
) -> None:
    """``L(w)`` and SAM's loss along ``y = 0``, with the saddle and the saddle ``+- rho``.

    ``sam_curves[r]`` is :func:`sam_loss` along ``xs`` for radius ``r``; the curves get
    SAM's colour, each its own line style and marker (solid for ``rho``, dashed for the
    others).
    The legend goes to the right of the axes, off the data.
    """
    ax.plot(xs, loss, color="k", linewidth=2, label="$L(w)$")
    for r, values in sam_curves.items():
        main = r == rho
        label = rf"$L^{{\mathrm{{SAM}}}}(w)$, $\rho = {r:g}$"
        style = {"linestyle": "-" if main else "--", "linewidth": 2 if main else 1.4,
                 "marker": "^" if main else "v", "markevery": 40}  # fmt: skip
        ax.plot(xs, values, color=viz.COLORS["SAM"], label=label, **style)
    ax.axvline(saddle_x, color="grey", linestyle=":", label="saddle between the wells")
    for side in (-1, 1):
        ax.axvline(saddle_x + side * rho, color="grey", linestyle="-.", linewidth=0.8,
                   label=rf"saddle $\pm\,\rho = {rho:g}$" if side < 0 else None)  # fmt: skip
    ax.set_xlabel("$x$, the first coordinate of $w$ (along the line $y = 0$)")
    ax.set_ylabel("loss")
    viz.legend_outside(ax, "right")


_XY_LABELS = ("$x$ (first coordinate of $w$)", "$y$ (second coordinate of $w$)")  # as widgets


def _point_handles() -> list[Any]:
    """Legend handles for the markers of :func:`viz.label_step`."""
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], marker="o", color="k", linestyle="none", label="$w_t$, $w_{t+1}$ (named)"),
        Line2D([], [], marker="D", color="k", mfc="white", linestyle="none",
               label=r"perturbed point $\tilde w_t$ (named)"),
    ]  # fmt: skip


def sam_run_figure(
    landscape: Any, steps: Sequence[Any], control: np.ndarray, t: int, rho: float
) -> Any:
    """Tutorial 03's first figure: a SAM run and its control, and one step magnified.

    Left: the SAM iterates of ``steps`` (:func:`viz.trace_steps`) and the ``control`` path
    (SGD with momentum, ``rho = 0``) on ``landscape``'s window, the saddle marked. Right:
    step ``t`` with its perturbation ``w_t -> w~_t`` and its momentum part, points named.
    Legends below the panels. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(9, 5.2), layout="constrained")
    viz.contour(ax, landscape)
    viz.trajectory(ax, control, label=r"SGD with momentum ($\rho = 0$)", optimizer="SGD")
    viz.trajectory(ax, viz.path(steps), label="SAM iterates $w_t$", optimizer="SAM")
    ax.plot(*SADDLE, "X", color="k", mfc="white", ms=9, zorder=10, label="saddle")
    ax.set_title(rf"SAM, $\rho = {rho:g}$, {len(steps)} steps", fontsize=10)
    window = viz.step_window(steps[t : t + 1])
    viz.contour(zoom, landscape, bounds=window, mark_minima=False)
    viz.trajectory(zoom, viz.path(steps), optimizer="SAM", markersize=5)
    viz.draw_step(zoom, steps[t], parts=("perturbation", "momentum"))
    viz.label_step(zoom, steps[t], t=t, fontsize=11)
    zoom.set(xlim=window[0], ylim=window[1])
    zoom.set_title(f"step {t} (gradient part: next figure)", fontsize=10)
    for a in (ax, zoom):
        a.set(xlabel=_XY_LABELS[0], ylabel=_XY_LABELS[1])
        a.xaxis.set_major_locator(plt.MaxNLocator(6))
    from matplotlib.lines import Line2D

    marks = [  # the start (square) and the minima (stars), as in the slider figure
        Line2D([], [], marker="s", ms=7, color=viz.COLORS["SAM"], mec="k", ls="none",
               label="start"),
        Line2D([], [], marker="*", ms=12, color="white", mec="k", ls="none", label="minima"),
    ]  # fmt: skip
    ax.legend(handles=ax.get_legend_handles_labels()[0] + marks, loc="upper center",
              bbox_to_anchor=(0.5, -0.14), frameon=False, fontsize=9, ncols=2)  # fmt: skip
    arrows = viz.step_legend(zoom, ["perturbation", "momentum"]).legend_handles
    zoom.legend(handles=arrows + _point_handles(), loc="upper center",
                bbox_to_anchor=(0.5, -0.14), frameon=False, fontsize=9)  # fmt: skip
    return fig


def gradient_part_figure(landscape: Any, steps: Sequence[Any], t: int) -> Any:
    """Tutorial 03's second figure: the gradient part ``-eta g(w~_t)`` of step ``t``, magnified.

    Left: where it is taken, at ``w~_t``, in a window just larger than the arrow. Right:
    where it is applied, after the momentum part (:func:`draw_update_zoom`), with ``w_t``
    and ``w_{t+1}`` named and the path in grey. Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    step = steps[t]
    fig, (taken, applied) = plt.subplots(1, 2, figsize=(9, 4.6), layout="constrained")
    # gradient_point: where the gradient was taken (w~_t); w_momentum = w_t - eta mu v_t
    p, descent = step.gradient_point, step.points["w_next"] - step.w_momentum  # -eta g(w~_t)
    half = 1.3 * np.linalg.norm(descent)
    box = tuple((float(c - half), float(c + half)) for c in p + descent / 2)
    viz.contour(taken, landscape, bounds=box, mark_minima=False, axis_labels=False)
    viz.draw_step(taken, step, parts=("gradient",))
    taken.plot(*p, "D", color="k", mfc="white", ms=8, zorder=10)
    taken.annotate(rf"$\tilde w_{{{t}}}$", p, xytext=(12, -14), textcoords="offset points",
                   fontsize=11)  # fmt: skip
    taken.set(xlim=box[0], ylim=box[1],
              title=rf"taken at $\tilde w_{{{t}}}$: $-\eta\, g(\tilde w_{{{t}}})$")  # fmt: skip
    draw_update_zoom(applied, landscape, steps, t)  # path in grey
    for point, name in (
        (step.points["w"], f"$w_{{{t}}}$"),
        (step.points["w_next"], f"$w_{{{t + 1}}}$"),
    ):
        applied.plot(*point, "o", color="k", ms=7, zorder=10, clip_on=False)
        applied.annotate(name, point, xytext=(8, 8), textcoords="offset points", fontsize=11)
    applied.set_title(rf"applied: $w_{{{t}}} \to w_{{{t}}} - \eta\mu v_{{{t}}} \to w_{{{t + 1}}}$")
    for a in (taken, applied):
        a.title.set_fontsize(10)
        a.set(xlabel=_XY_LABELS[0], ylabel=_XY_LABELS[1])
        a.xaxis.set_major_locator(plt.MaxNLocator(5))
    arrows = viz.step_legend(taken, ["momentum", "gradient", "gradient_applied"],
                             gradient_point=viz.TILDE_W).legend_handles  # fmt: skip
    taken.get_legend().remove()
    grey = Line2D([], [], color="0.5", marker="o", label="SAM's path (grey)")
    fig.legend(handles=arrows + [grey], loc="outside lower center", ncols=2, frameon=False,
               fontsize=9)  # fmt: skip
    return fig


def swing_figure(
    offsets: Mapping[str, np.ndarray],
    saddle_offset: float,
    flat_offset: float,
    width: float,
    first_steps: int = 30,
) -> Any:
    """Offsets ``x_t - x*`` of runs started near the sharp minimum ``(x*, 0)``, two panels.

    Top: every step, with the band within ``width`` of the sharp minimum, the saddle at
    ``saddle_offset`` and the band within 0.3 of the flat minimum at ``flat_offset``.
    Bottom: the first ``first_steps`` steps magnified (``|offset| <= 0.35``), where the
    swings of the runs are too small to read at the top's scale. ``offsets[name]`` is
    drawn in the style of optimizer ``name`` (:func:`viz.optimizer_style`); the legend
    sits to the right of the top panel. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    fig, (whole, first) = plt.subplots(
        2, 1, figsize=(9, 5.6), layout="constrained", height_ratios=(3, 2)
    )
    for ax, markevery in ((whole, 3), (first, 1)):
        for name, offset in offsets.items():
            ax.plot(offset, label=f"{name}, momentum 0.9", markevery=markevery, ms=4,
                    **viz.optimizer_style(name))  # fmt: skip
        ax.axhspan(-width, width, color="0.9", zorder=0,
                   label=r"within one width $\sigma$ of the sharp minimum")  # fmt: skip
        ax.axhline(0, color="k", linewidth=0.7)
        ax.set_xlabel("step $t$")
        ax.set_ylabel("$x_t - x^\\star$")
    whole.axhline(saddle_offset, color="grey", linestyle="--", linewidth=1,
                  label=f"the saddle (offset {saddle_offset:.2f})")  # fmt: skip
    whole.axhspan(flat_offset - 0.3, flat_offset + 0.3, color=viz.OKABE_ITO["sky blue"],
                  alpha=0.25, zorder=0, label="within 0.3 of the flat minimum")  # fmt: skip
    whole.set(xlim=(0, len(next(iter(offsets.values()))) - 1),
              title="all steps: offset from the sharp minimum")  # fmt: skip
    first.set(xlim=(0, first_steps), ylim=(-0.35, 0.35),
              title=f"steps 0 to {first_steps}, magnified")  # fmt: skip
    for ax in (whole, first):
        ax.title.set_fontsize(10)
    viz.legend_outside(whole, "right", fontsize=9)
    return fig


def swing_extremes(offset: np.ndarray) -> np.ndarray:
    """The signed extreme of each swing of ``offset`` (a stretch between sign changes)."""
    swings = np.split(offset, np.flatnonzero(np.diff(np.sign(offset)) != 0) + 1)
    return np.array([s[np.abs(s).argmax()] for s in swings])


def swing_events(offset: np.ndarray, flat_offset: float, out: float = 0.3) -> dict[str, Any]:
    """Landmarks of a run on the line ``y = 0`` from the sharp minimum to the flat one.

    ``offset`` is ``x_t - x*`` (sharp minimum at 0, flat minimum at ``flat_offset``). Keys,
    each a step ``t`` and the offset there: ``"out"`` first ``|offset| > out``; ``"hover"``
    (steps ``out .. back under out``, the smallest and largest offset between); ``"back"``
    first step past the sharp minimum again; ``"far"`` farthest on the other side (within
    40 steps); ``"cross"`` first step past the minimum after that; ``"flat"`` first step
    within ``out`` of the flat minimum, with the largest distance from it afterwards.
    """
    out_t = int(np.argmax(np.abs(offset) > out))
    hover_end = out_t + int(np.argmax(offset[out_t:] < out))
    back = out_t + int(np.argmax(offset[out_t:] < 0))
    far = back + int(np.argmin(offset[back : back + 40]))
    cross = far + int(np.argmax(offset[far:] > 0))
    flat = int(np.argmax(np.abs(offset - flat_offset) <= out))
    hover = offset[out_t:hover_end]
    return {
        "out": (out_t, offset[out_t]),
        "hover": (out_t, hover_end - 1, hover.min(), hover.max()),
        "back": (back, offset[back]),
        "far": (far, offset[far]),
        "cross": (cross, offset[cross]),
        "flat": (flat, np.abs(offset[flat:] - flat_offset).max()),
    }


def trajectories(
    make: Callable[[], Any],
    starts: np.ndarray,
    num_steps: int,
    grad_fn: Callable[[dict], tuple[Any, dict]],
) -> np.ndarray:
    """Iterates ``w_0 .. w_T`` of a fresh ``make()`` run from each start: ``(T + 1, n, 2)``."""
    paths = []
    for start in np.asarray(starts, dtype=float):
        opt = make()
        params = {"w": ms.asarray(start)}
        state, path = opt.init(params), [start]
        for _ in range(num_steps):
            params, state, _ = opt.step(params, state, grad_fn)
            path.append(ms.to_numpy(params["w"]))
        paths.append(path)
    return np.array(paths, dtype=float).transpose(1, 0, 2)


def escape_row(
    paths: np.ndarray, minimum: Sequence[float], surface: Any, window: int = 30
) -> tuple[float, float, int]:
    """For :func:`trajectories` ``paths`` started near ``minimum``: the largest step length
    ``||w_{t+1} - w_t||`` and the largest distance from ``minimum`` over the first
    ``window`` steps (all runs), and how many runs end outside the sharp well
    (:func:`which_well`)."""
    first = paths[: window + 1]
    step = np.linalg.norm(np.diff(first, axis=0), axis=2).max()
    farthest = np.linalg.norm(first - np.asarray(minimum), axis=2).max()
    return float(step), float(farthest), int(np.sum(which_well(paths[-1], surface) != "sharp"))


def quadratic_dropped_share(hessian: np.ndarray, offset: np.ndarray, rho: float) -> float:
    """``|dropped term| / |g(w~)|`` if the loss were the quadratic ``offset^T H offset / 2``.

    With ``g(w) = H offset``, ``n = g / |g|`` and ``g(w~) = g + rho H n`` (exact for a
    quadratic), the dropped term is ``rho / |g| * H (I - n n^T) g(w~)``.
    """
    g = hessian @ offset
    n = g / np.linalg.norm(g)
    g_tilde = g + rho * hessian @ n
    dropped = rho / np.linalg.norm(g) * hessian @ (g_tilde - n * (n @ g_tilde))
    return float(np.linalg.norm(dropped) / np.linalg.norm(g_tilde))


def well_legend_handles() -> list[Any]:
    """Legend handles for :func:`well_bars` in a neutral grey, since each bar's colour is
    its optimizer's (named on the x axis): solid = ends flat, ``//`` = sharp, ``..`` =
    elsewhere. Use ``fig.legend(handles=well_legend_handles(), ...)``."""
    from matplotlib.patches import Patch

    return [
        Patch(facecolor="0.55", edgecolor="k", hatch=hatch, alpha=alpha, label=f"ends {label}")
        for label, hatch, alpha in (
            ("flat", "", 1.0),
            ("sharp", "//", 0.4),
            ("elsewhere", "..", 0.4),
        )
    ]


# ----------------------------------------------------------------------------- rates on a quadratic
# Notebook 02 derives these; tests/test_tutorial_theory.py checks them against runs of
# optim.SGD and optim.NAG.


def step_matrix(method: str, lr: float, momentum: float, curvature: float) -> np.ndarray:
    """The 2x2 matrix ``M`` with ``(z_{t+1}, v_{t+1}) = M (z_t, v_t)`` along one eigen-direction.

    On ``L(w) = w^T H w / 2`` a coordinate ``z`` along an eigenvector of ``H`` with
    eigenvalue ``lam`` (the ``curvature``) has the gradient ``lam z``, and with
    ``eta = lr``, ``mu = momentum``:

        heavy ball ("SGD", "GD" = momentum 0):  v' = mu v + lam z,              z' = z - eta v'
        NAG (look-ahead a = z - eta mu v):      v' = mu v + lam (z - eta mu v),  z' = z - eta v'
    """
    eta, mu, lam = float(lr), float(momentum), float(curvature)
    if method.upper() == "NAG":
        shrink = 1.0 - eta * lam  # the factor (1 - eta lam) that the look-ahead puts on v
        return np.array([[shrink, -eta * mu * shrink], [lam, mu * shrink]])
    if method.upper() not in ("SGD", "GD"):
        raise ValueError(f"unknown method {method!r}; valid: 'GD', 'SGD' (heavy ball), 'NAG'")
    return np.array([[1.0 - eta * lam, -eta * mu], [lam, mu]])


def direction_rates(
    method: str, lr: float, momentum: float, curvatures: Sequence[float]
) -> np.ndarray:
    """The rate ``max |eigenvalue of M|`` (:func:`step_matrix`) for each curvature: after
    many steps the distance along that eigen-direction shrinks by this factor per step."""
    return np.array(
        [np.abs(np.linalg.eigvals(step_matrix(method, lr, momentum, c))).max() for c in curvatures]
    )


def quadratic_rate(method: str, lr: float, momentum: float, curvatures: Sequence[float]) -> float:
    """The predicted rate of a run: the largest (slowest) of its :func:`direction_rates`."""
    return float(direction_rates(method, lr, momentum, curvatures).max())


def tuned_gradient_descent(largest: float, smallest: float) -> tuple[float, float]:
    """``(lr, rate)`` of the best gradient descent, ``lr = 2 / (L + m)``, with the rate
    ``(k - 1) / (k + 1)``; ``L`` is the largest, ``m`` the smallest curvature, ``k = L / m``."""
    kappa = largest / smallest
    return 2.0 / (largest + smallest), (kappa - 1.0) / (kappa + 1.0)


def tuned_heavy_ball(largest: float, smallest: float) -> tuple[float, float, float]:
    """``(lr, momentum, rate)`` of the best heavy ball on a quadratic (Polyak)::

    lr = 4 / (sqrt(L) + sqrt(m))^2,  momentum = ((sqrt(k) - 1) / (sqrt(k) + 1))^2,
    rate = sqrt(momentum) = (sqrt(k) - 1) / (sqrt(k) + 1)
    """
    root_kappa = np.sqrt(largest / smallest)
    rate = (root_kappa - 1.0) / (root_kappa + 1.0)
    return 4.0 / (np.sqrt(largest) + np.sqrt(smallest)) ** 2, rate**2, rate


def measured_rate(distances: Sequence[float], first: int, last: int) -> float:
    """The per-step factor ``exp(slope)`` of a least-squares line through ``log distances[t]``
    for ``first <= t < last``: the rate a run shows, to compare with :func:`quadratic_rate`."""
    t = np.arange(first, last)
    logs = np.log(np.asarray(distances, dtype=float)[first:last])
    return float(np.exp(np.polyfit(t, logs, 1)[0]))


def quadratic_grad_fn(curvatures: Sequence[float]) -> Callable[[dict], tuple[Any, dict]]:
    """A ``grad_fn`` for ``L(w) = sum_i c_i w_i^2 / 2`` in closed form: ``g = c * w`` (fast)."""
    c = np.asarray(curvatures, dtype=float)

    def grad_fn(params: dict) -> tuple[Any, dict]:
        w = ms.to_numpy(params["w"])
        return ms.asarray(0.5 * float(c @ (w * w))), {"w": ms.asarray(c * w)}

    return grad_fn


def distances_to_minimum(
    opt: Any, grad_fn: Callable, start: Sequence[float], num_steps: int
) -> np.ndarray:
    """``||w_t||`` for ``t = 0 .. num_steps`` of a run of ``opt`` from ``start`` (minimum at 0)."""
    params = {"w": ms.asarray(np.asarray(start, dtype=float))}
    state = opt.init(params)
    out = [float(np.linalg.norm(start))]
    for _ in range(num_steps):
        params, state, _ = opt.step(params, state, grad_fn)
        out.append(float(np.linalg.norm(ms.to_numpy(params["w"]))))
    return np.array(out)


# ------------------------------------------------------------------------ many SAM runs at once


def sharp_flat_grads(points: np.ndarray) -> np.ndarray:
    """:func:`sharp_flat_grad`'s gradient at each row of ``points`` (shape ``(n, 2)``) at once."""
    w = np.asarray(points, dtype=float)
    grad = _land.BOWL * w
    for center, width, amplitude in (
        (_land.SHARP_CENTER, _land.SHARP_WIDTH, _land.SHARP_AMPLITUDE),
        (_land.FLAT_CENTER, _land.FLAT_WIDTH, _land.FLAT_AMPLITUDE),
    ):
        r = w - np.asarray(center)
        e = amplitude * np.exp(-np.sum(r * r, axis=1, keepdims=True) / (2 * width**2))
        grad = grad + e * r / width**2
    return grad


def sam_final_points(
    starts: np.ndarray, lr: float, momentum: float, rho: float, num_steps: int
) -> np.ndarray:
    """``w_T`` of SAM (SGD-momentum base) on the sharp-flat surface from every start at once.

    Each row is its own run, with the update of ``optim.SAM``::

        e = rho g(w) / (||g(w)|| + EPS),  v <- mu v + g(w + e),  w <- w - lr v

    ``rho = 0`` is SGD with momentum, and also ``momentum = 0`` gradient descent. The tests
    check it against :func:`final_points` with ``optim.SAM`` over 30 steps. Its sums are
    ordered differently, so over hundreds of steps a run that passes close to the saddle
    can end in the other well than ``optim.SAM``'s run (rounding, amplified). It exists so
    a notebook can count hundreds of starts in a fraction of a second.
    """
    w = np.array(starts, dtype=float)
    v = np.zeros_like(w)
    for _ in range(num_steps):
        g = sharp_flat_grads(w)
        if rho:
            w_tilde = w + rho * g / (np.linalg.norm(g, axis=1, keepdims=True) + EPS)
            g = sharp_flat_grads(w_tilde)
        v = momentum * v + g
        w = w - lr * v
    return w


def gaussian_well_sam_ratio(r: np.ndarray | float, rho: float, sigma: float) -> np.ndarray:
    """``|g(w~)| / |g(w)|`` in one Gaussian well ``L = -A exp(-r^2 / 2 sigma^2)``, SAM radius rho.

    The gradient's size is ``(A / sigma^2) r exp(-r^2 / 2 sigma^2)`` at distance ``r`` from
    the minimum, and the ascent step moves ``w`` outward to ``r + rho``, so::

        R(r) = (r + rho) / r * exp(-(2 r rho + rho^2) / (2 sigma^2))
    """
    r = np.asarray(r, dtype=float)
    return (r + rho) / r * np.exp(-(2 * r * rho + rho**2) / (2 * sigma**2))


def draw_update_zoom(ax: Any, landscape: Any, steps: Sequence[Any], t: int) -> dict[str, Any]:
    """Zoom on the update of step ``t``: ``w_t -> w_t - eta mu v_t -> w_{t+1}``.

    Draws the contours and the path in a square window around the three points, and the
    momentum part and the applied gradient part of step ``t`` (:func:`viz.draw_step`),
    which are too short to see at the scale of a perturbation. Returns ``{part: artist}``.
    """
    step = steps[t]
    ends = [step.points["w"], step.points["w_next"]]
    if step.w_momentum is not None:
        ends.append(step.w_momentum)
    corners = np.array(ends)
    centre, half = corners.mean(axis=0), 0.65 * float(np.ptp(corners, axis=0).max())
    bounds = tuple((float(c - half), float(c + half)) for c in centre)
    viz.contour(ax, landscape, bounds=bounds, mark_minima=False, axis_labels=False)
    viz.trajectory(ax, viz.path(steps), color="0.5", markersize=4)
    drawn = viz.draw_step(ax, step, parts=("momentum", "gradient"))
    ax.set_xlim(*bounds[0])
    ax.set_ylim(*bounds[1])
    return drawn


def page_faults(fun: Callable[[], Any], calls: int = 5) -> float | None:
    """Page faults per call of ``fun``: fresh memory pages the operating system had to clear.

    Counted with ``resource.getrusage`` (Linux, macOS); ``None`` where that module is
    missing (Windows).
    """
    try:
        import resource
    except ImportError:
        return None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fun()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def median_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """The median of ``values`` and a distribution-free interval ``(low, high)`` around it.

    Each value falls below the true median with probability 1/2, so the number below it is
    ``Binomial(n, 1/2)``; the interval from the ``j``-th to the ``(n - j + 1)``-th sorted
    value covers the true median with probability ``1 - 2 P(B <= j - 1)``. ``j`` is the
    largest index with that probability at least ``level`` (for 40 values: the 14th and
    27th, 96%). It needs no assumption about the values' distribution, outliers included.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n, tail = len(x), (1 - level) / 2
    below = np.cumsum([math.comb(n, i) for i in range(n + 1)]) / 2**n  # P(B <= i)
    j = int(np.searchsorted(below, tail, side="right"))  # P(B <= j - 1) <= tail
    if j == 0:
        raise ValueError(f"{n} values are too few for a {level:.0%} interval of the median")
    return float(np.median(x)), float(x[j - 1]), float(x[n - j])


def timing_verdict(low: float, high: float, predicted: float, tolerance: float = 0.25) -> str:
    """Whether an interval ``[low, high]`` for a ratio lies within ``tolerance`` of ``predicted``.

    ``"close to"`` when the whole interval lies inside ``predicted * (1 +- tolerance)``,
    ``"NOT close to"`` when it lies wholly outside, and otherwise ``"undecided about"``:
    the median's own uncertainty straddles the tolerance, and only a longer timing could
    tell.
    """
    inside = (predicted * (1 - tolerance), predicted * (1 + tolerance))
    if inside[0] <= low and high <= inside[1]:
        return "close to"
    if high < inside[0] or low > inside[1]:
        return "NOT close to"
    return "undecided about"


def seed_sweep_figure(
    sweep: Mapping[tuple[float, int], float], noise: float, title: str, below: float = 0.06
) -> Any:
    """Final test accuracy per radius: SGD (``rho = 0``) as a band, MSAM's mean and each seed.

    ``sweep[rho, seed]`` is a final test accuracy. The axis is zoomed on SGD's mean, with
    a grey band of ``+- noise`` (one standard error of a difference of two-seed means);
    values more than ``below`` under SGD's mean become an arrow with their numbers at the
    bottom edge instead of stretching the axis. Returns the figure.
    """
    import matplotlib.pyplot as plt

    rhos, seeds = sorted({r for r, _ in sweep}), sorted({s for _, s in sweep})
    mean = {r: float(np.mean([sweep[r, s] for s in seeds])) for r in rhos}
    low = mean[0.0] - below
    high = max(max(sweep.values()), mean[0.0] + noise) + 0.01
    fig, ax = plt.subplots(figsize=(6.4, 3.9), layout="constrained")
    ax.axhspan(mean[0.0] - noise, mean[0.0] + noise, color="0.85", zorder=0,
               label=f"SGD's mean ± one yardstick ({noise:.3f})")  # fmt: skip
    ax.axhline(mean[0.0], color=viz.optimizer_style("SGD")["color"], linestyle=":",
               linewidth=1.5, label=rf"SGD ($\rho = 0$), mean of {len(seeds)} seeds")  # fmt: skip
    ax.plot(rhos[1:], [mean[r] for r in rhos[1:]], **viz.optimizer_style("MSAM"),
            label=rf"MSAM ($\rho > 0$), mean of {len(seeds)} seeds")  # fmt: skip
    for seed, marker, shift in zip(seeds, ("x", "+"), (-0.1, 0.1)):  # seeds side by side
        side = "left" if shift < 0 else "right"
        ax.plot(np.array(rhos) + shift, [sweep[r, seed] for r in rhos], marker, color="k",
                ms=8, linestyle="none", label=f"seed {seed} (drawn 0.1 {side})")  # fmt: skip
    for r in rhos:
        off = [f"mean {mean[r]:.3f}"] if mean[r] < low else []
        off += [f"seed {s} {sweep[r, s]:.3f}" for s in seeds if sweep[r, s] < low]
        if off:  # the text sits low and to the left, clear of the points at this rho
            ax.annotate(f"$\\rho = {r:g}$, below the axis:\n" + "\n".join(off), xy=(r, low),
                        xytext=(r - 0.35, low + 0.08 * (high - low)), ha="right", va="bottom",
                        fontsize=10, arrowprops={"arrowstyle": "->", "color": "k"})  # fmt: skip
    ax.set(xlabel=r"MSAM $\rho$", ylabel="final test accuracy", xticks=rhos,
           xlim=(-0.4, max(rhos) + 0.4), ylim=(low, high), title=title)  # fmt: skip
    viz.legend_outside(ax, "below", ncols=2, bbox_to_anchor=(0.5, -0.18))
    return fig


def gap_figure(runs: Mapping[int, tuple[Mapping[str, float], float]]) -> Any:
    """Each optimizer's final test accuracy minus SGD's, against the noise, one panel per budget.

    ``runs[epochs] = (test accuracy per optimizer, the yardstick s of that budget)``. A
    difference of two single runs with spread ``s`` each has standard error ``sqrt(2) s``:
    the grey band is one standard error, the dashed lines two. Points in percentage
    points; the y-range is shared and symmetric. Returns the figure.
    """
    import matplotlib.pyplot as plt

    others = [k for k in next(iter(runs.values()))[0] if k != "SGD"]
    widest = max(np.sqrt(2) * s for _, s in runs.values())
    largest = max(abs(t[k] - t["SGD"]) for t, _ in runs.values() for k in others)
    limit = 100 * max(2.5 * widest, 1.2 * largest)
    fig, axes = plt.subplots(1, len(runs), figsize=(6.4, 3.6), sharey=True, layout="constrained")
    for ax, (epochs, (test, s)) in zip(np.atleast_1d(axes), runs.items()):
        se = 100 * np.sqrt(2) * s
        ax.axhspan(-se, se, color="0.85", zorder=0, label="± 1 standard error, √2·s")
        for sign in (1, -1):
            ax.axhline(sign * 2 * se, color="0.4", linestyle="--", linewidth=1,
                       label="± 2 standard errors" if sign > 0 else None)  # fmt: skip
        ax.axhline(0, color=viz.optimizer_style("SGD")["color"], linestyle=":", label="SGD")
        for x, label in enumerate(others):
            style = viz.optimizer_style(label)
            ax.plot(x, 100 * (test[label] - test["SGD"]), marker=style["marker"],
                    color=style["color"], markersize=10, linestyle="none")  # fmt: skip
        ax.set(xticks=range(len(others)), xticklabels=others, ylim=(-limit, limit),
               xlim=(-0.6, len(others) - 0.4))  # fmt: skip
        ax.set_title(f"{epochs} epochs, s = {100 * s:.1f} points")
    first = np.atleast_1d(axes)[0]
    first.set_ylabel("test accuracy minus SGD's\n(points, single runs, seed 0)")
    fig.legend(*first.get_legend_handles_labels(), loc="outside lower center", ncols=3)
    return fig
