"""Plotting helpers for the tutorials and figures: toy-surface steps, training curves.

matplotlib is imported inside the functions that draw, so ``import minimsam`` never
needs it. Install it with ``pip install "minimsam[cli]"``.

The toy-surface helpers work on 2-D problems whose params are one array of shape
``(2,)``, such as ``{"w": w}`` for a :mod:`minimsam.data.landscapes` surface::

    from minimsam import optim, viz
    from minimsam.data import landscapes

    surface = landscapes.get("quadratic")
    opt = optim.MSAM(lr=0.04, rho=0.3)
    steps = viz.trace_steps(opt, surface.grad_fn(), surface.start, num_steps=20)
    fig, ax = plt.subplots()
    viz.contour(ax, surface)
    viz.trajectory(ax, viz.path(steps), label="MSAM")
    for step in steps[:5]:
        viz.draw_step(ax, step)

:func:`trace_steps` runs ``opt.step(..., trace=True)`` and keeps every named point of
each step (``info.points``) as a host vector. :func:`draw_step` draws one step of any
of SGD, NAG, SAM and MSAM from those names, as the update of a heavy-ball method::

    w_{t+1} = w_t - eta * mu * v_t  -  eta * d_t
              \\__ momentum part __/   \\_ gradient part _/

with ``d_t`` the gradient the optimizer took at its gradient point ``p_t`` (plus weight
decay): ``p_t = w_t`` for SGD, the look-ahead ``w_t - eta mu v_t`` for NAG,
``w_t + rho g/||g||`` for SAM and ``w_t - rho v_t/||v_t||`` for MSAM (docs/optimizers.md).

:func:`plot_surface` draws the 2-D loss grids of
:func:`minimsam.sharpness.loss_surface_2d`; :func:`plot_histories` the epoch records of
:func:`minimsam.train.fit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import minimsam as ms

__all__ = [
    "COLORS",
    "Step",
    "animate_steps",
    "contour",
    "draw_step",
    "path",
    "plot_histories",
    "plot_surface",
    "save_figure",
    "step_legend",
    "step_window",
    "trace_steps",
    "trajectory",
]

#: One colour per optimizer, shared by every figure and notebook.
COLORS = {
    "SGD": "#1f77b4",
    "NAG": "#2ca02c",
    "SAM": "#8c564b",
    "MSAM": "#9467bd",
    "AdamW": "#7f7f7f",
    "AdamWMSAM": "#e377c2",
}

#: Colours of the parts of a step drawn by :func:`draw_step`.
PART_COLORS = {
    "momentum": "#555555",
    "perturbation": "#ff7f0e",
    "gradient": "#d62728",
    "lookahead": "#2ca02c",
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


def contour(
    ax: Any,
    landscape: Any,
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
    n: int = 200,
    levels: int | Sequence[float] = 25,
    log: bool | None = None,
    cmap: str = "Blues_r",
    mark_minima: bool = True,
) -> Any:
    """Filled contours of ``landscape.values`` over ``bounds`` (default ``landscape.bounds``).

    ``log`` spaces the levels geometrically above the minimum (default: when the surface
    is >= 0 and spans more than two decades, as the quadratic and Rosenbrock do). Minima
    are marked with white stars. Returns the ``QuadContourSet`` of the filled contours.
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
    filled = ax.contourf(X, Y, Z, levels=levels, cmap=cmap)
    ax.contour(X, Y, Z, levels=levels, colors="k", linewidths=0.3, alpha=0.35)
    if mark_minima:
        for mx, my in landscape.minima:
            if x0 <= mx <= x1 and y0 <= my <= y1:
                ax.plot(
                    [mx],
                    [my],
                    marker="*",
                    color="white",
                    markersize=12,
                    markeredgecolor="k",
                    linestyle="none",
                    zorder=5,
                )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    return filled


def trajectory(
    ax: Any,
    points: np.ndarray,
    label: str | None = None,
    color: str | None = None,
    marker: str = "o",
    markersize: float = 3.0,
    **kwargs: Any,
) -> Any:
    """A polyline through ``points`` (shape ``(T, 2)``) with a marker at each iterate.

    The start gets a larger square marker. Returns the ``Line2D`` of the path.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (T, 2), got {points.shape}")
    (line,) = ax.plot(
        points[:, 0],
        points[:, 1],
        marker=marker,
        markersize=markersize,
        color=color,
        label=label,
        linewidth=1.2,
        zorder=3,
        **kwargs,
    )
    ax.plot(
        points[:1, 0],
        points[:1, 1],
        marker="s",
        markersize=6,
        color=line.get_color(),
        markeredgecolor="k",
        linestyle="none",
        zorder=4,
    )
    return line


def _arrow(ax: Any, start: np.ndarray, end: np.ndarray, color: str, **kwargs: Any) -> Any:
    """A ``FancyArrowPatch`` from ``start`` to ``end`` in data coordinates."""
    from matplotlib.patches import FancyArrowPatch

    style = {"arrowstyle": "-|>", "mutation_scale": 10, "linewidth": 1.3, "zorder": 6}
    style.update(kwargs)
    patch = FancyArrowPatch(tuple(start), tuple(end), color=color, shrinkA=0, shrinkB=0, **style)
    ax.add_patch(patch)
    return patch


def draw_step(
    ax: Any,
    step: Step,
    parts: Iterable[str] = ("perturbation", "momentum", "gradient"),
    colors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Draw the parts of one traced step; returns ``{part: artist}`` for what was drawn.

    parts, any of:

    - ``"perturbation"``: a dashed arrow ``w_t -> p_t`` to the point where the gradient
      was taken, for SAM (``w + e``, along the gradient) and MSAM (``w - rho v/||v||``,
      along the negative momentum); for NAG the look-ahead point is marked with a ring
      (its arrow would lie on the momentum arrow). Nothing for SGD.
    - ``"momentum"``: an arrow ``w_t -> w_t - eta mu v_t``, the momentum part of the
      update (heavy-ball updates only; absent on the first step, where ``v_0 = 0``).
    - ``"gradient"``: an arrow ``-eta * d_t`` drawn from the gradient point ``p_t``, and
      the same vector, faint, from the end of the momentum part to ``w_{t+1}``: the
      gradient is taken at ``p_t`` and applied at ``w_t - eta mu v_t``.

    The update ``w_t -> w_{t+1}`` itself is the trajectory (see :func:`trajectory`).
    """
    colors = {**PART_COLORS, **(colors or {})}
    drawn: dict[str, Any] = {}
    w, w_next = step.points["w"], step.points["w_next"]
    p = step.gradient_point
    if "perturbation" in parts:
        if "w_perturbed" in step.points and np.any(step.points["w_perturbed"] != w):
            drawn["perturbation"] = _arrow(
                ax, w, p, colors["perturbation"], linestyle="--", linewidth=2.5, zorder=5
            )
        elif "lookahead" in step.points and np.any(step.points["lookahead"] != w):
            (drawn["lookahead"],) = ax.plot(
                [p[0]],
                [p[1]],
                marker="o",
                markersize=7,
                markerfacecolor="none",
                markeredgecolor=colors["lookahead"],
                markeredgewidth=1.5,
                linestyle="none",
                zorder=7,
            )
    m = step.w_momentum
    if "momentum" in parts and m is not None and np.any(m != w):
        drawn["momentum"] = _arrow(ax, w, m, colors["momentum"])
    if "gradient" in parts:
        descent = w_next - (m if m is not None else w)  # = -eta * d_t exactly
        drawn["gradient"] = _arrow(ax, p, p + descent, colors["gradient"], zorder=8)
        if m is not None and np.any(p != m):
            drawn["gradient_applied"] = _arrow(ax, m, w_next, colors["gradient"], alpha=0.35)
    return drawn


def step_legend(
    ax: Any, parts: Iterable[str], colors: Mapping[str, str] | None = None, **kwargs: Any
) -> Any:
    """A legend explaining the arrows of :func:`draw_step` for the given ``parts``."""
    from matplotlib.lines import Line2D

    colors = {**PART_COLORS, **(colors or {})}
    labels = {
        "perturbation": ("perturbation  $w_t \\to p_t$", "--"),
        "momentum": ("momentum part  $-\\eta\\mu v_t$", "-"),
        "gradient": ("gradient part  $-\\eta\\, g(p_t)$", "-"),
    }
    handles = []
    for part in parts:
        if part == "lookahead":
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    markerfacecolor="none",
                    linestyle="none",
                    markeredgecolor=colors["lookahead"],
                    label="look-ahead $w_t - \\eta\\mu v_t$",
                )
            )
            continue
        text, style = labels[part]
        handles.append(Line2D([], [], color=colors[part], linestyle=style, label=text))
    return ax.legend(handles=handles, **kwargs)


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
    compare methods at equal cost. Returns the lines in the order of ``histories``.
    """
    colors = {**COLORS, **(colors or {})}
    lines = []
    for label, history in histories.items():
        if x == "grad_evals":
            xs = np.cumsum([r["grad_evals"] for r in history])
        else:
            xs = [r[x] for r in history]
        ys = [r[key] for r in history]
        (line,) = ax.plot(xs, ys, label=label, color=colors.get(label), **kwargs)
        lines.append(line)
    ax.set_xlabel({"epoch": "epoch", "grad_evals": "gradient evaluations"}.get(x, x))
    ax.set_ylabel(key.replace("_", " "))
    return lines


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` so that the same figure gives the same bytes on every run.

    PNG metadata carries the matplotlib version by default; ``metadata={"Software":
    None}`` drops it (SVG ids are made stable by ``rcParams["svg.hashsalt"]``, which
    :mod:`minimsam.figures` sets).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Software": None} if path.suffix.lower() == ".png" else None
    fig.savefig(path, dpi=dpi, metadata=metadata)
    return path


def animate_steps(
    fig: Any,
    ax: Any,
    steps: Sequence[Step],
    color: str | None = None,
    parts: Iterable[str] = ("perturbation", "momentum", "gradient"),
    title: Callable[[int, Step], str] | None = None,
) -> Any:
    """A ``FuncAnimation`` that reveals ``steps`` one per frame, with the step's arrows.

    Frame ``k`` shows the iterates ``w_0 .. w_{k+1}`` and the parts of step ``k``;
    earlier steps keep only their path. Save it with
    ``anim.save("x.gif", writer=matplotlib.animation.PillowWriter(fps=2))``.
    """
    _pyplot()
    from matplotlib.animation import FuncAnimation

    pts = path(steps)
    (line,) = ax.plot([], [], marker="o", markersize=3, color=color, zorder=3)
    artists: list[Any] = []
    title_artist = ax.set_title("")

    def frame(k: int) -> list[Any]:
        for artist in artists:
            artist.remove()
        artists.clear()
        line.set_data(pts[: k + 2, 0], pts[: k + 2, 1])
        artists.extend(draw_step(ax, steps[k], parts).values())
        if title is not None:
            title_artist.set_text(title(k, steps[k]))
        return [line, title_artist, *artists]

    return FuncAnimation(fig, frame, frames=len(steps), blit=False, repeat=False)


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
