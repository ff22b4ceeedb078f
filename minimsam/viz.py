"""Plotting helpers for the tutorials and figures: toy-surface steps, training curves.

matplotlib is imported inside the functions that draw, so ``import minimsam`` never
needs it. Install it with ``pip install "minimsam[cli]"``.

Style: every colour comes from the Okabe-Ito palette (:data:`OKABE_ITO`), readable
under colour blindness, and every optimizer has one colour plus a second cue, a marker
and a line style (:data:`OPTIMIZER_STYLE`, :func:`optimizer_style`), so its lines stay
apart in grey print. :func:`legend_outside` puts a legend beside the data, not on it.

The toy-surface helpers work on 2-D problems whose params are one array of shape
``(2,)``, such as ``{"w": w}`` for a :mod:`minimsam.data.landscapes` surface::

    from minimsam import optim, viz
    from minimsam.data import landscapes

    surface = landscapes.get("quadratic")
    opt = optim.MSAM(lr=0.04, rho=0.3)
    steps = viz.trace_steps(opt, surface.grad_fn(), surface.start, num_steps=20)
    fig, ax = plt.subplots()
    viz.contour(ax, surface)
    viz.trajectory(ax, viz.path(steps), label="MSAM", optimizer="MSAM")
    viz.draw_step(ax, steps[5])
    viz.label_step(ax, steps[5], 5)
    viz.step_legend(ax, ["perturbation", "momentum", "gradient"], loc="upper left",
                    bbox_to_anchor=(1.02, 1))

:func:`trace_steps` runs ``opt.step(..., trace=True)`` and keeps every named point of
each step (``info.points``) as a host vector. :func:`draw_step` draws one step of any
of SGD, NAG, SAM and MSAM from those names, as the update of a heavy-ball method::

    w_{t+1} = w_t - eta * mu * v_t  -  eta * d_t
              \\__ momentum part __/   \\_ gradient part _/

with ``d_t`` the gradient the optimizer took at its gradient point ``w~_t`` (written
``\\tilde w_t`` in the figures, :data:`TILDE_W`; plus weight decay): ``w~_t = w_t`` for
SGD, the look-ahead ``w_t - eta mu v_t`` for NAG, ``w_t + rho g/||g||`` for SAM and
``w_t - rho v_t/||v_t||`` for MSAM (see docs/optimizers.md).

:func:`plot_surface` draws the 2-D loss grids of
:func:`minimsam.sharpness.loss_surface_2d`; :func:`plot_histories` the epoch records of
:func:`minimsam.train.fit`. :func:`save_figure` and :func:`save_animation` write files
atomically.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import minimsam as ms
from minimsam.atomic import atomic_write

__all__ = [
    "COLORS",
    "OKABE_ITO",
    "OPTIMIZER_STYLE",
    "PART_STYLE",
    "GifWriter",
    "Step",
    "animate_steps",
    "contour",
    "draw_step",
    "draw_tape",
    "label_step",
    "legend_outside",
    "optimizer_style",
    "pale_cmap",
    "path",
    "plot_histories",
    "plot_surface",
    "rc_params",
    "save_animation",
    "save_figure",
    "step_legend",
    "step_window",
    "trace_steps",
    "trajectory",
    "write_gif",
]

#: The Okabe-Ito palette (Okabe & Ito 2008), distinguishable under the common colour
#: vision deficiencies. Every colour in minimsam's figures comes from it.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}

#: One style per optimizer, shared by every figure and notebook: an Okabe-Ito colour
#: plus a second cue (marker and line style), so that the lines stay apart in grey
#: print and under colour blindness. Use it as ``ax.plot(x, y, **optimizer_style("SAM"))``.
OPTIMIZER_STYLE = {
    "SGD": {"color": OKABE_ITO["blue"], "marker": "o", "linestyle": "-"},
    "NAG": {"color": OKABE_ITO["bluish green"], "marker": "s", "linestyle": "--"},
    "SAM": {"color": OKABE_ITO["orange"], "marker": "^", "linestyle": "-."},
    "MSAM": {"color": OKABE_ITO["vermillion"], "marker": "D", "linestyle": ":"},
    "AdamW": {"color": OKABE_ITO["reddish purple"], "marker": "v", "linestyle": (0, (5, 1))},
    "AdamWMSAM": {"color": OKABE_ITO["sky blue"], "marker": "P", "linestyle": (0, (3, 1, 1, 1))},
}

#: One colour per optimizer (the colours of :data:`OPTIMIZER_STYLE`).
COLORS = {name: style["color"] for name, style in OPTIMIZER_STYLE.items()}

#: How :func:`draw_step` draws the parts of a step: colour and line style, each distinct,
#: none of them an optimizer's colour in the toy figures (SGD, NAG, SAM, MSAM).
PART_STYLE = {
    "perturbation": {"color": OKABE_ITO["reddish purple"], "linestyle": "--"},
    "momentum": {"color": OKABE_ITO["black"], "linestyle": "-"},
    "gradient": {"color": OKABE_ITO["sky blue"], "linestyle": "-"},
    "lookahead": {"color": OKABE_ITO["reddish purple"], "linestyle": "none"},
}

#: Colours of the parts of a step drawn by :func:`draw_step`.
PART_COLORS = {part: style["color"] for part, style in PART_STYLE.items()}

#: The symbol of the point where a step takes its gradient: the perturbed point of SAM
#: and MSAM, the look-ahead of NAG (``w_t`` itself for SGD). Used in labels and legends.
TILDE_W = r"\tilde w"


def rc_params() -> dict[str, Any]:
    """matplotlib settings that make unnamed lines take palette colours, in the order
    blue, vermillion, bluish green, orange, reddish purple, sky blue, black, yellow.

    Use ``plt.rcParams.update(viz.rc_params())`` or ``matplotlib.rc_context(...)``.
    """
    from cycler import cycler

    order = ("blue", "vermillion", "bluish green", "orange", "reddish purple", "sky blue",
             "black", "yellow")  # fmt: skip
    return {"axes.prop_cycle": cycler(color=[OKABE_ITO[name] for name in order])}


def optimizer_style(name: str, index: int = 0) -> dict[str, Any]:
    """The plot keywords (``color``, ``marker``, ``linestyle``) of optimizer ``name``.

    Names are matched without case (``"msam"`` is ``"MSAM"``). A name not in
    :data:`OPTIMIZER_STYLE` gets a palette colour, marker and line style chosen by
    ``index``, so that several unknown names still differ.
    """
    for key, style in OPTIMIZER_STYLE.items():
        if key.lower() == str(name).lower():
            return dict(style)
    colors = [c for c in OKABE_ITO.values() if c not in COLORS.values()] + list(COLORS.values())
    markers, styles = "xv<>ph*", ["-", "--", "-.", ":"]
    return {
        "color": colors[index % len(colors)],
        "marker": markers[index % len(markers)],
        "linestyle": styles[index % len(styles)],
    }


# the names under which each optimizer's trace holds the gradient it applies
_GRADIENT_NAMES = ("grad_at_perturbed", "grad")


# ----------------------------------------------------------------------------- tracing


@dataclass
class Step:
    """One optimizer step on a 2-D problem, as host vectors of shape ``(2,)``.

    Attributes:
        points: ``info.points`` of the step, each params dict reduced to its one array
            (names as in the optimizer's docstring: ``w``, ``w_next``, ``grad``, ...).
        lr: the learning rate ``eta`` used at this step.
        mu: the momentum coefficient (0 without momentum).
        momentum_before: ``v_t``, the momentum buffer before the step (None without one).
        loss: ``info.loss``, the loss of the step's first gradient evaluation.
    """

    points: dict[str, np.ndarray]
    lr: float
    mu: float = 0.0
    momentum_before: np.ndarray | None = None
    loss: float = float("nan")

    @property
    def gradient_point(self) -> np.ndarray:
        """``p_t``, where the applied gradient was taken (perturbed point, look-ahead or w)."""
        for name in ("w_perturbed", "lookahead", "w"):
            if name in self.points:
                return self.points[name]
        raise KeyError("the step has no 'w'")

    @property
    def gradient(self) -> np.ndarray:
        """The gradient the update applies (``grad_at_perturbed`` for SAM, else ``grad``)."""
        for name in _GRADIENT_NAMES:
            if name in self.points:
                return self.points[name]
        raise KeyError("the step has no gradient")

    @property
    def w_momentum(self) -> np.ndarray | None:
        """``w_t - eta mu v_t``, where the momentum part of the update ends (None without it)."""
        if self.momentum_before is None:
            return None
        return self.points["w"] - self.lr * self.mu * self.momentum_before


def _single(tree: Mapping[str, Any]) -> np.ndarray:
    """The one array of a params-like dict, on the host, as float64 of shape ``(2,)``."""
    if len(tree) != 1:
        raise ValueError(f"2-D plotting needs params with one array, got keys {list(tree)}")
    (x,) = tree.values()
    x = np.asarray(ms.to_numpy(x), dtype=float).reshape(-1)
    if x.shape != (2,):
        raise ValueError(f"2-D plotting needs a parameter of 2 entries, got shape {x.shape}")
    return x


def trace_steps(
    optimizer: Any,
    grad_fn: Callable[[dict], tuple[Any, dict]],
    start: Sequence[float],
    num_steps: int,
    name: str = "w",
) -> list[Step]:
    """Run ``num_steps`` steps of ``optimizer`` from ``params = {name: start}``, traced.

    ``grad_fn(params) -> (loss, grads)`` as for ``opt.step``. Returns one :class:`Step`
    per step. The momentum split of :attr:`Step.w_momentum` is recorded only for
    heavy-ball updates ``w_{t+1} = w_t - eta (mu v_t + d_t)`` (SGD without Nesterov,
    NAG, SAM, MSAM), where it is exact.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(f"num_steps must be a non-negative int, got {num_steps!r}")
    params = {name: ms.asarray(np.asarray(start, dtype=float))}
    state = optimizer.init(params)
    heavy_ball = getattr(optimizer, "momentum", 0) > 0 and not getattr(optimizer, "nesterov", False)
    steps = []
    for _ in range(num_steps):
        t = int(state["step"])
        v = state.get("momentum")
        before = _single(v) if heavy_ball and isinstance(v, Mapping) else None
        params, state, info = optimizer.step(params, state, grad_fn, trace=True)
        points = {k: _single(p) for k, p in info.points.items()}
        lr = float(optimizer.hyper("lr", t)) if hasattr(optimizer, "hyper") else float("nan")
        mu = float(getattr(optimizer, "momentum", 0.0))
        steps.append(Step(points, lr, mu, before, float(ms.to_numpy(info.loss))))
    return steps


def step_window(
    steps: Sequence[Step], pad: float = 0.15
) -> tuple[tuple[float, float], tuple[float, float]]:
    """A square ``((x0, x1), (y0, y1))`` holding every point :func:`draw_step` draws for
    ``steps`` (iterates, gradient points, arrow ends), widened by ``pad`` of its size on
    each side: the window to zoom into a few steps."""
    if not steps:
        raise ValueError("step_window needs at least one step")
    pts = []
    for s in steps:
        pts += [s.points["w"], s.points["w_next"], s.gradient_point]
        m = s.w_momentum
        if m is not None:
            pts += [m, s.gradient_point + s.points["w_next"] - m]
    pts = np.asarray(pts)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre, half = (lo + hi) / 2, max((hi - lo).max(), 1e-12) / 2 * (1 + 2 * pad)
    return (
        (float(centre[0] - half), float(centre[0] + half)),
        (float(centre[1] - half), float(centre[1] + half)),
    )


def path(steps: Sequence[Step]) -> np.ndarray:
    """The iterates ``w_0, w_1, ..., w_T`` of traced steps, shape ``(T + 1, 2)``."""
    if not steps:
        raise ValueError("path needs at least one step")
    return np.array([s.points["w"] for s in steps] + [steps[-1].points["w_next"]])


# ----------------------------------------------------------------------------- drawing


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError('minimsam.viz needs matplotlib: pip install "minimsam[cli]"') from err
    return plt


def pale_cmap() -> Any:
    """The default background of :func:`contour`: light greys, darker towards low loss.

    Pale, so that the palette colours and the black arrows drawn on top keep their
    contrast on a screen, a projector and in grey print.
    """
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("minimsam_pale", ["#b8b8b8", "#f4f4f4", "#ffffff"])


def contour(
    ax: Any,
    landscape: Any,
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
    n: int = 200,
    levels: int | Sequence[float] = 25,
    log: bool | None = None,
    cmap: Any = None,
    mark_minima: bool = True,
    axis_labels: bool = True,
) -> Any:
    """Filled contours of ``landscape.values`` over ``bounds`` (default ``landscape.bounds``).

    ``log`` spaces the levels geometrically above the minimum (default: when the surface
    is >= 0 and spans more than two decades, as the quadratic and Rosenbrock do). Minima
    are marked with white stars. ``cmap`` defaults to :func:`pale_cmap`. With
    ``axis_labels`` axes without labels are labelled ``w[0]`` and ``w[1]`` (the two
    coordinates of the parameter). Returns the ``QuadContourSet`` of the filled contours.
    """
    (x0, x1), (y0, y1) = bounds if bounds is not None else landscape.bounds
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    Z = landscape.values(X, Y)
    lo, hi = float(Z.min()), float(Z.max())
    if log is None:
        log = lo >= 0 and hi > 100 * max(lo, 1e-12) and hi > 1e-9
    if isinstance(levels, int):
        if log:
            floor = max(lo, hi * 1e-4)
            levels = np.concatenate([[lo], np.geomspace(floor, hi, levels)])
            levels = np.unique(levels)
        else:
            levels = np.linspace(lo, hi, levels)
    filled = ax.contourf(X, Y, Z, levels=levels, cmap=pale_cmap() if cmap is None else cmap)
    ax.contour(X, Y, Z, levels=levels, colors="#777777", linewidths=0.4, alpha=0.6)
    if mark_minima:
        for mx, my in landscape.minima:
            if x0 <= mx <= x1 and y0 <= my <= y1:
                ax.plot(
                    [mx],
                    [my],
                    marker="*",
                    color="white",
                    markersize=13,
                    markeredgecolor="k",
                    linestyle="none",
                    zorder=5,
                )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    if axis_labels and not ax.get_xlabel():
        ax.set_xlabel("$w[0]$")
    if axis_labels and not ax.get_ylabel():
        ax.set_ylabel("$w[1]$")
    return filled


def trajectory(
    ax: Any,
    points: np.ndarray,
    label: str | None = None,
    color: str | None = None,
    marker: str | None = None,
    markersize: float = 3.0,
    optimizer: str | None = None,
    **kwargs: Any,
) -> Any:
    """A polyline through ``points`` (shape ``(T, 2)``) with a marker at each iterate.

    ``optimizer`` (e.g. ``"MSAM"``) takes colour, marker and line style from
    :data:`OPTIMIZER_STYLE`; ``color``, ``marker`` and keyword arguments override it.
    Without either, the marker is ``"o"``. The start gets a larger square marker.
    Returns the ``Line2D`` of the path.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (T, 2), got {points.shape}")
    style = optimizer_style(optimizer) if optimizer is not None else {"marker": "o"}
    style.update({k: v for k, v in (("color", color), ("marker", marker)) if v is not None})
    style.setdefault("linestyle", "-")
    style.update(kwargs)
    (line,) = ax.plot(
        points[:, 0],
        points[:, 1],
        markersize=markersize,
        label=label,
        **{"linewidth": 1.4, "zorder": 3, **style},
    )
    ax.plot(
        points[:1, 0],
        points[:1, 1],
        marker="s",
        markersize=7,
        color=line.get_color(),
        markeredgecolor="k",
        linestyle="none",
        zorder=4,
    )
    return line


def _arrow(
    ax: Any,
    start: np.ndarray,
    end: np.ndarray,
    color: str,
    shift: np.ndarray | None = None,
    **kwargs: Any,
) -> Any:
    """A ``FancyArrowPatch`` from ``start`` to ``end`` in data coordinates.

    ``shift`` (a 2-vector, in points) moves the drawn arrow sideways on the page, so
    that two arrows along one line can both be seen.
    """
    from matplotlib.transforms import ScaledTranslation

    style = {"arrowstyle": "-|>", "mutation_scale": 18, "linewidth": 2.6, "zorder": 6}
    style.update(kwargs)
    if shift is not None:
        offset = ScaledTranslation(shift[0] / 72, shift[1] / 72, ax.figure.dpi_scale_trans)
        style["transform"] = ax.transData + offset
    patch = _FittedArrow(tuple(start), tuple(end), color=color, shrinkA=0, shrinkB=0, **style)
    ax.add_patch(patch)
    return patch


@functools.cache
def _fitted_arrow_class() -> type:
    """``FancyArrowPatch`` whose head shrinks to fit a short arrow.

    A head longer than its arrow is drawn back past the arrow's start and then seems
    to point the wrong way; at draw time, when the axes limits are final, the head
    size is capped by the arrow's length on the page.
    """
    from matplotlib.patches import FancyArrowPatch

    class FittedArrow(FancyArrowPatch):
        def draw(self, renderer: Any) -> None:
            if not hasattr(self, "_full_scale"):
                self._full_scale = self.get_mutation_scale()
            (x0, y0), (x1, y1) = self.get_transform().transform(self._posA_posB)
            length_pt = float(np.hypot(x1 - x0, y1 - y0)) * 72.0 / self.figure.dpi
            self.set_mutation_scale(min(self._full_scale, 1.5 * length_pt))  # head <= 0.6 x arrow
            super().draw(renderer)

    return FittedArrow


def _FittedArrow(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 (a class, built lazily)
    return _fitted_arrow_class()(*args, **kwargs)


def _overlap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether segments ``a`` and ``b`` lie on one line and share a stretch of it."""
    (a0, a1), (b0, b1) = a, b
    da, db = a1 - a0, b1 - b0
    la, lb = np.linalg.norm(da), np.linalg.norm(db)
    if la == 0 or lb == 0 or abs(da @ db) < 0.98 * la * lb:
        return False
    u = da / la
    r = b0 - a0
    if abs(r[0] * u[1] - r[1] * u[0]) > 0.05 * max(la, lb):  # b's line is off a's
        return False
    lo, hi = sorted([r @ u, (b1 - a0) @ u])
    return min(la, hi) - max(0.0, lo) > 0.05 * min(la, lb)


def _side_shifts(segments: Mapping[str, tuple], size: float) -> dict[str, np.ndarray]:
    """Sideways shifts (points) that separate the segments lying on each other.

    For MSAM the perturbation and the momentum part both run along ``-v`` from ``w_t``;
    for SAM the gradient part runs back along the perturbation. Of each such pair the
    first is moved ``size`` points to one side of their common line and the second to
    the other side. Assumes equal aspect (data directions are page directions).
    """
    shifts: dict[str, np.ndarray] = {}
    names = list(segments)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if _overlap(segments[first], segments[second]):
                d = segments[first][1] - segments[first][0]
                normal = np.array([-d[1], d[0]]) / np.linalg.norm(d) * size
                shifts.setdefault(first, normal)
                shifts[second] = -shifts[first]
    return shifts


def _halo(width: float) -> list[Any]:
    """A white outline under a line, so it stays visible over contours and other lines."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width + 2.5, foreground="white"), patheffects.Normal()]


# the dotted copy of the gradient part: dense round dots, visible over the contour lines
APPLIED_DOTS = (0, (1, 1))


def draw_step(
    ax: Any,
    step: Step,
    parts: Iterable[str] = ("perturbation", "momentum", "gradient"),
    colors: Mapping[str, str] | None = None,
    width: float = 2.6,
    separation: float | None = None,
) -> dict[str, Any]:
    """Draw the parts of one traced step; returns ``{part: artist}`` for what was drawn.

    The gradient point ``w~_t`` (:data:`TILDE_W`) is where the step takes its gradient.
    parts, any of:

    - ``"perturbation"``: a dashed arrow ``w_t -> w~_t`` for SAM (``w~_t = w_t + e_t``,
      along the gradient) and MSAM (``w~_t = w_t - rho v_t/||v_t||``, along the negative
      momentum); for NAG the look-ahead ``a_t = w_t - eta mu v_t`` is marked with a
      ring (its arrow would lie on the momentum arrow). Nothing for SGD (``w~_t = w_t``).
    - ``"momentum"``: a solid black arrow ``w_t -> w_t - eta mu v_t``, the momentum part
      of the update (heavy-ball updates only; absent on the first step, ``v_0 = 0``).
    - ``"gradient"``: an arrow ``-eta * d_t`` drawn from ``w~_t``, where the gradient is
      taken, and the same vector, thinner and dotted, from the end of the momentum part
      to ``w_{t+1}``, where it is applied (``"gradient_applied"``).

    ``width`` is the line width of the arrows (points). Two arrows along one line (MSAM's
    perturbation and momentum part, SAM's perturbation and gradient part) are drawn
    ``separation`` points to either side of it (default ``0.7 * width``; more when one
    arrow is nearly as long as the other and would hide it). Colours and line styles come
    from :data:`PART_STYLE` (``colors`` overrides colours). The update ``w_t -> w_{t+1}``
    itself is the trajectory (see :func:`trajectory`); :func:`label_step` names the
    points.
    """
    colors = {**PART_COLORS, **(colors or {})}
    drawn: dict[str, Any] = {}
    w, w_next = step.points["w"], step.points["w_next"]
    p, m = step.gradient_point, step.w_momentum
    base = m if m is not None else w
    descent = w_next - base  # = -eta * d_t exactly
    segments = {"perturbation": (w, p), "gradient": (p, p + descent)}
    if m is not None:
        segments.update(momentum=(w, m), gradient_applied=(m, w_next))
    shift = _side_shifts(segments, 0.7 * width if separation is None else separation)
    halo = _halo(width)
    if "perturbation" in parts:
        if "w_perturbed" in step.points and np.any(step.points["w_perturbed"] != w):
            drawn["perturbation"] = _arrow(
                ax,
                w,
                p,
                colors["perturbation"],
                linestyle=PART_STYLE["perturbation"]["linestyle"],
                linewidth=width,
                zorder=6,
                path_effects=halo,
                shift=shift.get("perturbation"),
            )
        elif "lookahead" in step.points and np.any(step.points["lookahead"] != w):
            (drawn["lookahead"],) = ax.plot(
                [p[0]],
                [p[1]],
                marker="o",
                markersize=11,
                color=colors["lookahead"],
                markerfacecolor="none",
                markeredgecolor=colors["lookahead"],
                markeredgewidth=2.5,
                linestyle="none",
                zorder=9,
            )
    if "momentum" in parts and m is not None and np.any(m != w):
        drawn["momentum"] = _arrow(
            ax,
            w,
            m,
            colors["momentum"],
            linewidth=width,
            zorder=7,
            path_effects=halo,
            shift=shift.get("momentum"),
        )
    if "gradient" in parts:
        drawn["gradient"] = _arrow(
            ax,
            p,
            p + descent,
            colors["gradient"],
            linewidth=width,
            zorder=8,
            path_effects=halo,
            shift=shift.get("gradient"),
        )
        if m is not None and np.any(p != m):
            drawn["gradient_applied"] = _arrow(
                ax,
                m,
                w_next,
                colors["gradient"],
                linewidth=width * 0.9,
                linestyle=APPLIED_DOTS,
                mutation_scale=14,
                zorder=5,
                path_effects=halo,
                shift=shift.get("gradient_applied"),
            )
    return drawn


def _segment_distance(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance from point ``x`` to the segment ``a b``."""
    d = b - a
    u = 0.0 if not np.any(d) else float(np.clip((x - a) @ d / (d @ d), 0.0, 1.0))
    return float(np.linalg.norm(x - (a + u * d)))


def label_step(ax: Any, step: Step, t: int | str = "t", fontsize: float = 13) -> dict[str, Any]:
    """Mark and name the points of one step: ``w_t``, ``w~_t`` and ``w_{t+1}``.

    ``t`` is the step's index (a number, or ``"t"`` for the symbols). Each name goes in
    the one of eight directions around its point that keeps it farthest from the
    step's arrows, its path segment and the other names, on a white box. ``w~_t``
    (:data:`TILDE_W`; ``a_t`` for NAG's look-ahead) is named only where it differs from
    ``w_t``. Returns ``{"w":
    text, "w_tilde": text, "w_next": text}`` for what was drawn.
    """
    w, w_next, p = step.points["w"], step.points["w_next"], step.gradient_point
    m = step.w_momentum if step.w_momentum is not None else w
    g_end = p + w_next - m
    segments = [(w, p), (w, m), (p, g_end), (m, w_next), (w, w_next)]
    after = f"{t}+1" if isinstance(t, str) else str(t + 1)
    points = {"w": (w, f"$w_{{{t}}}$"), "w_next": (w_next, f"$w_{{{after}}}$")}
    if np.any(p != w):
        symbol = "a" if "lookahead" in step.points else TILDE_W  # NAG's look-ahead is a_t
        points["w_tilde"] = (p, f"${symbol}_{{{t}}}$")
    scale = max(float(np.ptp(np.array([w, p, m, w_next, g_end]), axis=0).max()), 1e-300)
    angles = np.deg2rad(np.arange(8) * 45 + 90)  # up first, then anticlockwise
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    placed: list[np.ndarray] = []
    texts = {}
    for key, (xy, text) in points.items():
        candidates = xy + 0.15 * scale * directions  # where the name would sit, roughly

        def clearance(c: np.ndarray) -> float:
            gaps = [_segment_distance(c, a, b) for a, b in segments]
            gaps += [float(np.linalg.norm(c - q)) for q in placed]
            return min(gaps)

        best = directions[int(np.argmax([clearance(c) for c in candidates]))]
        placed.append(xy + 0.15 * scale * best)
        ax.plot(
            [xy[0]],
            [xy[1]],
            marker="D" if key == "w_tilde" else "o",
            markersize=7,
            color="k",
            markerfacecolor="white" if key == "w_tilde" else "k",
            markeredgecolor="k",
            linestyle="none",
            zorder=10,
        )
        texts[key] = ax.annotate(
            text,
            tuple(xy),
            xytext=tuple(20 * best),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=fontsize,
            zorder=11,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
        )
    return texts


def step_legend(
    ax: Any,
    parts: Iterable[str],
    colors: Mapping[str, str] | None = None,
    gradient_point: str | None = None,
    **kwargs: Any,
) -> Any:
    """A legend explaining the arrows of :func:`draw_step` for the given ``parts``.

    The gradient is named ``g(w~_t)`` when ``parts`` has a perturbation, ``g(a_t)`` when it
    has NAG's look-ahead, else ``g(w_t)`` (SGD); ``gradient_point`` (a TeX symbol, e.g.
    :data:`TILDE_W`) names it when the parts drawn do not show it.
    Keyword arguments go to ``ax.legend``; :func:`legend_outside` places one off the data.
    """
    from matplotlib.lines import Line2D

    colors = {**PART_COLORS, **(colors or {})}
    parts = list(parts)
    # the gradient point: w~_t where the step moves before its gradient, else w_t (SGD)
    # NAG's look-ahead is a_t (as in docs/optimizers.md); SAM's and MSAM's perturbed point w~_t
    tw = "a" if "lookahead" in parts else TILDE_W if "perturbation" in parts else "w"
    tw = gradient_point if gradient_point is not None else tw
    labels = {
        "perturbation": (f"perturbation  $w_t \\to {tw}_t$", "--"),
        "momentum": ("momentum part  $-\\eta\\mu v_t$", "-"),
        "gradient": (f"gradient part  $-\\eta\\, g({tw}_t)$, taken at ${tw}_t$", "-"),
        "gradient_applied": (
            f"the same $-\\eta\\, g({tw}_t)$, applied after the momentum",
            APPLIED_DOTS,
        ),
    }
    handles = []
    for part in parts:
        if part == "lookahead":
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    markersize=9,
                    color=colors["lookahead"],
                    markerfacecolor="none",
                    markeredgewidth=2,
                    linestyle="none",
                    markeredgecolor=colors["lookahead"],
                    label="look-ahead $a_t = w_t - \\eta\\mu v_t$",
                )
            )
            continue
        text, style = labels[part]
        color = colors["gradient" if part == "gradient_applied" else part]
        width = 2.3 if part == "gradient_applied" else 2.6
        handles.append(Line2D([], [], color=color, linestyle=style, linewidth=width, label=text))
    return ax.legend(handles=handles, **kwargs)


def legend_outside(ax: Any, where: str = "below", **kwargs: Any) -> Any:
    """``ax.legend(...)`` placed outside the axes, so it never covers the data.

    ``where`` is ``"below"`` (centred under the axes and their x label) or ``"right"``.
    Keyword arguments go to ``ax.legend`` (e.g. ``handles``, ``ncols``). A figure with
    ``layout="constrained"`` makes room for it.
    """
    if where == "below":
        place = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.14)}
    elif where == "right":
        place = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)}
    else:
        raise ValueError(f"where must be 'below' or 'right', got {where!r}")
    return ax.legend(**{**place, "frameon": False, **kwargs})


def plot_histories(
    ax: Any,
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    key: str = "test_acc",
    x: str = "epoch",
    colors: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """One line per run: ``record[key]`` against ``record[x]`` for the epoch records of
    :func:`minimsam.train.fit` (``histories = {label: result.history}``).

    ``x`` may also be ``"grad_evals"``: the running total of gradient evaluations, to
    compare methods at equal cost. Each label's line takes its colour, marker and line
    style from :func:`optimizer_style`; the markers of the k-th line start k points
    later than the first line's (``markevery``), so that coinciding lines still show
    each other's markers. Returns the lines in the order of ``histories``.
    """
    lines = []
    count = len(histories)
    for index, (label, history) in enumerate(histories.items()):
        if x == "grad_evals":
            xs = np.cumsum([r["grad_evals"] for r in history])
        else:
            xs = [r[x] for r in history]
        ys = [r[key] for r in history]
        every = max(count, len(xs) // 6)
        style = optimizer_style(label, index)
        if colors and label in colors:
            style["color"] = colors[label]
        style.update({"markevery": (index * every // count, every), "markersize": 5})
        style.update(kwargs)
        (line,) = ax.plot(xs, ys, label=label, **style)
        lines.append(line)
    ax.set_xlabel({"epoch": "epoch", "grad_evals": "gradient evaluations"}.get(x, x))
    ax.set_ylabel(key.replace("_", " "))
    return lines


def draw_tape(
    ax: Any,
    values: Mapping[str, float],
    positions: Mapping[str, tuple[float, float]],
    shares: Mapping[tuple[str, str], float],
    adjoints: Mapping[str, float],
    labels: Mapping[str, str] | None = None,
    constants: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Draw a small tape: its values, the forward pass and the backward pass.

    ``values[key]`` is the number the forward pass gave the value ``key``, drawn in a box
    at ``positions[key] = (generation, height)`` with the math label ``labels[key]``
    (without ``$``; default: the key) and, under it, its adjoint ``adjoints[key]``.
    ``shares[(z, u)]`` is the share ``z_bar * dz/du`` that the op making ``z`` sends back
    to its input ``u``: a grey forward arrow ``u -> z`` and, just below it, a dashed
    vermillion backward arrow ``z -> u`` labelled with the share, beside the arrow on the
    side away from the forward one. ``constants[key] = (text, z)`` draws a constant input
    of the op making ``z`` as a grey box with plain ``text``, with a forward arrow only (no
    gradient flows to it). Where several arrows meet a box side, they attach in the order
    of the heights of their other ends (:func:`_tape_lanes`), so that none cross there. Two
    empty lines carry the legend labels of the two kinds of arrow.
    """
    back = OKABE_ITO["vermillion"]
    forward_style = {"arrowstyle": "-|>", "color": "0.55", "lw": 1.4}
    backward_style = {**forward_style, "color": back, "linestyle": "--"}
    edge = 0.25  # from a box's centre to where its arrows meet it, in generations
    generations = sorted({int(g) for g, _ in positions.values()})
    heights = [h for _, h in positions.values()]
    ax.set(xlim=(generations[0] - 0.5, generations[-1] + 0.5),
           ylim=(min(heights) - 0.9, max(heights) + 0.5), yticks=[])  # fmt: skip
    edges = [(u, z) for z, u in shares] + [(u, z) for u, (_, z) in (constants or {}).items()]
    lane = _tape_lanes(positions, edges, backward={(u, z) for z, u in shares})

    def ends(u: str, z: str, kind: str) -> tuple[tuple[float, float], tuple[float, float]]:
        # the arrow's two ends at the right side of u's box and the left side of z's
        tail = (positions[u][0] + edge, lane[u, z, kind, u])
        return tail, (positions[z][0] - edge, lane[u, z, kind, z])

    label_box = {"facecolor": "white", "edgecolor": "none", "pad": 0.5}
    for (z, u), share in shares.items():
        tail, head = ends(u, z, "forward")
        ax.annotate("", head, tail, arrowprops=forward_style)
        end, start = ends(u, z, "backward")
        ax.annotate("", end, start, arrowprops=backward_style)
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        beside = _beside_segment(ax, start, end, size=(35.0, 14.0), gap=2.0)
        ax.annotate(f"${share:+.3f}$", middle, xytext=beside, textcoords="offset points",
                    color=back, fontsize=10.5, ha="center", va="center",
                    bbox=label_box)  # fmt: skip
    for u, (text, z) in (constants or {}).items():
        tail, head = ends(u, z, "forward")
        ax.annotate("", head, tail, arrowprops=forward_style)
        constant_box = {"boxstyle": "round", "facecolor": "0.95", "edgecolor": "0.6"}
        ax.text(*positions[u], text, ha="center", va="center", fontsize=10.5, bbox=constant_box)
    for key, value in values.items():
        gx, gy = positions[key]
        label = (labels or {}).get(key, key)
        ax.text(gx, gy, f"${label}$\n$= {value:+.3f}$", ha="center", va="center", fontsize=11,
                bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "k"})  # fmt: skip
        if key in adjoints:
            ax.text(gx, gy - 0.5, rf"$\bar{{{key}}} = {adjoints[key]:+.3f}$", ha="center",
                    va="center", fontsize=11, color=back)  # fmt: skip
    ax.set_xticks(generations, [f"generation {g}" for g in generations])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.plot([], [], color="0.55", label="forward: value flows to the op that uses it")
    ax.plot([], [], color=back, linestyle="--",
            label=r"backward: share $\bar z\,\partial z/\partial u$ sent back")  # fmt: skip


def _tape_lanes(
    positions: Mapping[str, tuple[float, float]],
    edges: Sequence[tuple[str, str]],
    backward: Collection[tuple[str, str]],
    spacing: float = 0.12,
) -> dict[tuple[str, str, str, str], float]:
    """Height at which each arrow of the edge ``(u, z)`` meets the box of ``u`` or ``z``.

    ``result[u, z, kind, end]`` for ``kind`` in ``"forward"``, ``"backward"`` (the latter
    only for edges in ``backward``) and ``end`` in ``u``, ``z``. The arrows at one box
    side are stacked top to bottom in the order of the heights of their other ends, each
    edge's forward arrow above its backward one, ``spacing`` apart and centred on the box.
    """
    sides: dict[tuple[str, str], list[tuple[float, int, str, str, str]]] = {}
    for u, z in edges:
        kinds = ("forward", "backward") if (u, z) in backward else ("forward",)
        for end, other in ((u, z), (z, u)):
            for order, kind in enumerate(kinds):
                key = (-positions[other][1], order, u, z)
                sides.setdefault((end, "right" if end == u else "left"), []).append((*key, kind))
    lanes = {}
    for (end, _), arrows in sides.items():
        arrows.sort()
        for index, (_, _, u, z, kind) in enumerate(arrows):
            lanes[u, z, kind, end] = positions[end][1] + spacing * ((len(arrows) - 1) / 2 - index)
    return lanes


def _beside_segment(
    ax: Any, start: tuple[float, float], end: tuple[float, float], size=(30.0, 12.0), gap=3.0
) -> tuple[float, float]:
    """Offset in points that moves a label of ``size`` (width, height, in points) from the
    middle of the segment ``start -> end`` to beside it, on its lower side: along the unit
    normal ``n`` of the segment (as drawn), by ``|n_x| width / 2 + |n_y| height / 2 + gap``,
    so that the label's box just clears the line whatever the line's slope."""
    (x0, y0), (x1, y1) = ax.transData.transform([start, end])
    normal = np.array([y1 - y0, x0 - x1]) / np.hypot(x1 - x0, y1 - y0)
    if normal[1] > 0:  # point down, away from the forward arrow drawn above
        normal = -normal
    distance = abs(normal[0]) * size[0] / 2 + abs(normal[1]) * size[1] / 2 + gap
    return float(normal[0] * distance), float(normal[1] * distance)


def _write_atomically(path: str | Path, write: Callable[[Any], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``
    in one step (:func:`minimsam.atomic.atomic_write`): a reader sees the old file or
    the new one, never a half-written one, and a failure leaves the old file as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        write(f)
    return path


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` atomically, so that the same figure gives the same bytes on every run.

    The file is written to a temporary name beside ``path`` and renamed into place.
    PNG metadata carries the matplotlib version by default; ``metadata={"Software":
    None}`` drops it (SVG ids are made stable by ``rcParams["svg.hashsalt"]``).
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".") or "png"
    metadata = {"Software": None} if suffix == "png" else None
    return _write_atomically(
        path, lambda f: fig.savefig(f, dpi=dpi, metadata=metadata, format=suffix)
    )


def animate_steps(
    fig: Any,
    ax: Any,
    steps: Sequence[Step],
    color: str | None = None,
    parts: Iterable[str] = ("perturbation", "momentum", "gradient"),
    title: Callable[[int, Step], str] | None = None,
    labels: bool = False,
    optimizer: str | None = None,
    zoom: Any = None,
    width: float = 2.6,
) -> Any:
    """A ``FuncAnimation`` that reveals ``steps`` one per frame, with the step's arrows.

    Frame ``k`` shows the iterates ``w_0 .. w_{k+1}`` and the parts of step ``k``;
    earlier steps keep only their path. With ``labels`` the step's points are named
    (:func:`label_step`). ``optimizer`` styles the path as :func:`trajectory` does.
    With a second axes ``zoom``, the step is drawn there instead, in a window that
    follows it (:func:`step_window`; draw the background over the whole surface
    first), and ``ax`` shows the path and a box around that window. Save it with
    :func:`save_animation`; ``anim.draw_frame(k)`` draws frame ``k`` without saving.
    """
    _pyplot()
    from matplotlib.animation import FuncAnimation
    from matplotlib.patches import Rectangle

    parts = tuple(parts)
    pts = path(steps)
    style = optimizer_style(optimizer) if optimizer is not None else {"marker": "o"}
    if color is not None:
        style["color"] = color
    style["linestyle"] = "-"
    target = ax if zoom is None else zoom
    axes = [ax] if zoom is None else [ax, zoom]
    lines = [a.plot([], [], markersize=4, zorder=3, **style)[0] for a in axes]
    box = None
    if zoom is not None:
        box = Rectangle((0, 0), 0, 0, fill=False, edgecolor="k", linewidth=1.5, zorder=8)
        ax.add_patch(box)
    artists: list[Any] = []
    title_artist = ax.set_title("")

    def frame(k: int) -> list[Any]:
        for artist in artists:
            artist.remove()
        artists.clear()
        for line in lines:
            line.set_data(pts[: k + 2, 0], pts[: k + 2, 1])
        before = set(target.lines) | set(target.texts)
        artists.extend(draw_step(target, steps[k], parts, width=width).values())
        if labels:
            label_step(target, steps[k], k)
            artists.extend((set(target.lines) | set(target.texts)) - before - set(artists))
        if zoom is not None:
            (x0, x1), (y0, y1) = step_window([steps[k]], pad=0.3)
            zoom.set_xlim(x0, x1)
            zoom.set_ylim(y0, y1)
            box.set_bounds(x0, y0, x1 - x0, y1 - y0)
        if title is not None:
            title_artist.set_text(title(k, steps[k]))
        return [*lines, title_artist, *artists]

    anim = FuncAnimation(fig, frame, frames=len(steps), blit=False, repeat=False)
    anim.draw_frame = frame  # draw_frame(k) shows frame k, e.g. to inspect or test it
    return anim


def _movie_writer_base() -> Any:
    _pyplot()
    from matplotlib.animation import AbstractMovieWriter

    return AbstractMovieWriter


def GifWriter(fps: float = 2.0) -> Any:  # noqa: N802 - a class factory, used like a class
    """A matplotlib movie writer for GIFs with ONE palette for all frames, written atomically.

    Matplotlib's ``PillowWriter`` lets each frame choose its own 256 colours with
    dithering, which makes smooth backgrounds speckle and flicker from frame to frame.
    This writer quantises every frame to a palette built from all frames together,
    without dithering, and replaces the target file in one step. Use it as
    ``anim.save("x.gif", writer=viz.GifWriter(fps=2), dpi=100)``, or call
    :func:`save_animation`.
    """
    return _make_gif_writer_class()(fps=fps)


def _make_gif_writer_class() -> type:
    base = _movie_writer_base()

    class _GifWriter(base):
        def setup(self, fig: Any, outfile: Any, dpi: float | None = None) -> None:
            super().setup(fig, outfile, dpi)
            self.frames: list[Any] = []

        def grab_frame(self, **savefig_kwargs: Any) -> None:
            from PIL import Image

            buf = io.BytesIO()
            self.fig.savefig(buf, **{**savefig_kwargs, "format": "rgba", "dpi": self.dpi})
            frame = Image.frombuffer("RGBA", self.frame_size, buf.getbuffer(), "raw", "RGBA", 0, 1)
            self.frames.append(frame.convert("RGB"))

        def finish(self) -> None:
            write_gif(self.frames, self.outfile, self.fps)

    return _GifWriter


def write_gif(frames: Sequence[Any], path: str | Path, fps: float = 2.0) -> Path:
    """Write PIL RGB ``frames`` as a looping GIF with one shared palette, atomically."""
    from PIL import Image

    if not frames:
        raise ValueError("write_gif needs at least one frame")
    width, height = frames[0].size
    sample = list(frames[::4]) + [frames[-1]]  # the palette is built from every 4th frame
    mosaic = Image.new("RGB", (width, height * len(sample)))
    for k, frame in enumerate(sample):
        mosaic.paste(frame, (0, k * height))
    palette = mosaic.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    quantized = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    duration = int(round(1000 / fps))

    def write(f: Any) -> None:
        quantized[0].save(
            f,
            format="GIF",
            save_all=True,
            append_images=quantized[1:],
            duration=duration,
            loop=0,
            optimize=False,
        )

    return _write_atomically(path, write)


def save_animation(anim: Any, path: str | Path, fps: float = 2.0, dpi: float = 100) -> Path:
    """Write a ``FuncAnimation`` (e.g. from :func:`animate_steps`) as a GIF, atomically.

    Every frame is drawn at ``dpi`` (a frame is ``figsize * dpi`` pixels) and all frames
    share one palette (:func:`GifWriter`): no dithering speckle, no flicker.
    """
    anim.save(str(path), writer=GifWriter(fps), dpi=dpi)
    return Path(path)


def plot_surface(
    alphas: Any,
    betas: Any,
    grid: Any,
    ax: Any = None,
    levels: int = 20,
    title: str | None = None,
) -> Any:
    """Contour plot of a 2-D loss surface ``grid[i, j] = L(w + alphas[i] d1 + betas[j] d2)``.

    Takes the output of :func:`minimsam.sharpness.loss_surface_2d` (Li et al. 2018;
    MSAM paper Fig. A.13) and marks the centre ``(0, 0)``, the trained weights. Draws
    into ``ax`` (a new figure if None) and returns the axes.
    """
    import matplotlib.pyplot as plt

    alphas, betas, grid = np.asarray(alphas), np.asarray(betas), np.asarray(grid)
    if grid.shape != (alphas.size, betas.size):
        raise ValueError(
            f"grid has shape {grid.shape}, expected (len(alphas), len(betas)) = "
            f"({alphas.size}, {betas.size})"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    # contour wants Z[row = beta, column = alpha]
    filled = ax.contourf(alphas, betas, grid.T, levels=levels, cmap="viridis")
    ax.contour(alphas, betas, grid.T, levels=levels, colors="k", linewidths=0.3)
    ax.figure.colorbar(filled, ax=ax, label="loss")
    ax.plot([0.0], [0.0], marker="*", color="w", markersize=10)
    ax.set_xlabel(r"$\alpha$ (direction 1)")
    ax.set_ylabel(r"$\beta$ (direction 2)")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


# Figures of notebook 04 (signed rho): their layout lives here so that the notebook
# shows only what is measured.
SIGNED_RHO_STYLES = (  # (colour, marker, line style), in the order of the radii
    (OKABE_ITO["reddish purple"], "o", "--"),
    ("0.6", "s", "-."),
    ("k", "D", "-"),
    (OKABE_ITO["sky blue"], "v", ":"),
    (OKABE_ITO["yellow"], "^", (0, (6, 2))),
)


def signed_rho_figure(
    curves: Mapping[float, np.ndarray], levels: Mapping[float, float], smoothing: int
) -> Any:
    """Left: a loss curve per signed radius; right: one level per radius at its true x.

    ``curves[rho]`` is a running mean over ``smoothing`` steps (plotted from step
    ``smoothing - 1``), ``levels[rho]`` the late mean loss. No optimizer's colour is used
    (they mean other things elsewhere); each radius has a colour, a marker and a line
    style (:data:`SIGNED_RHO_STYLES`, at most five radii), and the yellow one, pale on
    white, is outlined. Returns the figure.
    """
    from matplotlib import patheffects

    plt = _pyplot()
    if len(curves) > len(SIGNED_RHO_STYLES) or set(curves) != set(levels):
        raise ValueError(
            f"give at most {len(SIGNED_RHO_STYLES)} radii, the same in curves and levels"
        )
    outline = [patheffects.Stroke(linewidth=3.5, foreground="k"), patheffects.Normal()]
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    for k, (r, (color, marker, style)) in enumerate(zip(curves, SIGNED_RHO_STYLES)):
        curve, yellow = np.asarray(curves[r]), color == OKABE_ITO["yellow"]
        ax.semilogy(np.arange(len(curve)) + smoothing - 1, curve, color=color, marker=marker,
                    markevery=(6 * k, 40), linestyle=style, linewidth=2 if yellow else 1.5,
                    mec="k", label=rf"$\rho = {r:+.1f}$",
                    path_effects=outline if yellow else None)  # fmt: skip
        ax_r.semilogy(r, levels[r], marker=marker, color=color, mec="k", ms=8, linestyle="none")
    ax.set(xlabel="step", ylabel=f"loss, running mean\nover {smoothing} steps")
    legend_outside(ax, "below", ncols=3)
    ax_r.set_xticks(list(levels), [f"{r:+.1f}" for r in levels])
    ax_r.set(xlabel=r"signed $\rho$ ($< 0$: a step back along $+v_t$)", ylabel="late mean loss")
    return fig


def sweep_figure(
    accuracy: Mapping[float, np.ndarray],
    loss_ratio: Mapping[float, float],
    baseline: np.ndarray,
    window: tuple[float, float] = (-4.0, 3.0),
) -> Any:
    """Test accuracy per seed (left) and train loss over the baseline's (right) per radius.

    ``accuracy[rho]``: the seeds' test accuracies in %; ``baseline``: the baseline's (SGD).
    The radii sit at equal spacing in sorted order. The left panel is zoomed to the
    baseline's mean plus ``window`` points; a mean below it becomes an arrow with its
    value, at alternating heights so that neighbouring labels do not touch. Returns the
    figure.
    """
    plt = _pyplot()
    rhos = sorted(accuracy)
    if set(rhos) != set(loss_ratio):
        raise ValueError("accuracy and loss_ratio must have the same radii")
    color, mean = COLORS["MSAM"], float(np.mean(baseline))
    low, high = mean + window[0], mean + window[1]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
    off_scale = 0
    for i, r in enumerate(rhos):
        acc = np.asarray(accuracy[r])
        ax_acc.plot(np.full(len(acc), i), acc, "o", color=color, ms=4, alpha=0.7,
                    label="one seed" if i == 0 else None)  # fmt: skip
        if acc.mean() < low:
            height = low + 1.2 + 0.9 * (off_scale % 2)
            ax_acc.annotate(f"{acc.mean():.0f}%", (i, low), xytext=(i, height), ha="center",
                            fontsize=9, arrowprops={"arrowstyle": "->", "color": "k"})  # fmt: skip
            off_scale += 1
    ax_acc.plot(range(len(rhos)), [np.mean(accuracy[r]) for r in rhos], "k_", ms=12, mew=2,
                label="mean of the seeds (arrow: mean off scale)")  # fmt: skip
    spread = float(np.std(baseline, ddof=1))
    ax_acc.axhspan(mean - spread, mean + spread, color="0.8", label="SGD, mean $\\pm$ std")
    ax_acc.axhline(mean, color="k", linewidth=0.8)
    ax_acc.set(ylabel="test accuracy %", ylim=(low, high))
    ax_loss.semilogy(range(len(rhos)), [loss_ratio[r] for r in rhos], "D", color=color, mec="k")
    ax_loss.axhline(1, color="grey", linewidth=0.8)
    ax_loss.set(ylabel="final train loss / SGD's")
    for a in (ax_acc, ax_loss):
        a.set_xticks(range(len(rhos)), [f"{r:g}" for r in rhos], rotation=60)
        if 0.0 in rhos:
            a.axvline(rhos.index(0.0), color="grey", linestyle=":", linewidth=0.8)
        a.set_xlabel(r"signed $\rho$ (MSAM; $0$ is SGD; unequal spacing)")
    fig.legend(*ax_acc.get_legend_handles_labels(), loc="outside lower center", ncols=3)
    return fig
