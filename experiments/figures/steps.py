"""One optimizer step on the ill-conditioned quadratic, decomposed; MSAM animated.

``<key>_steps.png`` has two panels: the whole path (left) and one step ``t`` drawn from
``info.points`` (right): the perturbation ``w_t -> w~_t``, the momentum part
``-eta mu v_t`` and the gradient part ``-eta g(w~_t)``, taken at ``w~_t`` and applied
after the momentum part, ending at ``w_{t+1}``. ``w~_t`` is where the step takes its
gradient: SAM's and MSAM's perturbed point, NAG's look-ahead (named ``a_t`` in the NAG
figure), ``w_t`` for SGD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minimsam import optim, viz
from minimsam.data import landscapes

from .base import new_figure


@dataclass(frozen=True)
class StepFigure:
    """How to draw one optimizer's steps on the ill-conditioned quadratic."""

    label: str
    make: Callable[[], optim.Optimizer]
    step: int  # the step t drawn with its arrows
    title: str


LR = 0.01  # lr * a = 0.2 on the quadratic (a = 20): heavy-ball oscillates along x
TW = viz.TILDE_W
STEP_FIGURES = {
    "sgd": StepFigure(
        "SGD",
        lambda: optim.SGD(lr=LR, momentum=0.9),
        5,
        r"SGD + momentum: $w_{t+1} = w_t - \eta\mu v_t - \eta\, g(w_t)$",
    ),
    "nag": StepFigure(
        "NAG",
        lambda: optim.NAG(lr=LR, momentum=0.9),
        5,
        r"NAG: gradient at the look-ahead $a_t = w_t - \eta\mu v_t$; "
        r"$w_{t+1} = w_t - \eta\mu v_t - \eta\, g(a_t)$",
    ),
    "sam": StepFigure(
        "SAM",
        lambda: optim.SAM(lr=LR, momentum=0.9, rho=0.15),
        5,
        rf"SAM ($\rho=0.15$): gradient at ${TW}_t = w_t + \rho\, g(w_t)/\|g(w_t)\|$; "
        rf"$w_{{t+1}} = w_t - \eta\mu v_t - \eta\, g({TW}_t)$",
    ),
    "msam": StepFigure(
        "MSAM",
        lambda: optim.MSAM(lr=LR, momentum=0.9, rho=0.3),
        7,
        rf"MSAM ($\rho=0.3$): gradient at ${TW}_t = w_t - \rho\, v_t/\|v_t\|$; "
        rf"$w_{{t+1}} = w_t - \eta\mu v_t - \eta\, g({TW}_t)$",
    ),
}


def _path_panel(ax: Any, spec: StepFigure, steps: list, box: tuple) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    surface = landscapes.get("quadratic")
    viz.contour(ax, surface)
    line = viz.trajectory(ax, viz.path(steps), label=f"{spec.label} iterates", optimizer=spec.label)
    (x0, x1), (y0, y1) = box
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="k", linewidth=1.5))
    ax.set_title(f"{spec.label}: {len(steps)} steps, $\\eta={LR}$, $\\mu=0.9$")
    handles = [
        line,
        Line2D(
            [],
            [],
            marker="s",
            color=line.get_color(),
            markeredgecolor="k",
            linestyle="none",
            markersize=7,
            label="start $w_0$",
        ),
        Line2D(
            [],
            [],
            marker="*",
            color="white",
            markeredgecolor="k",
            linestyle="none",
            markersize=12,
            label="minimum",
        ),
        Rectangle((0, 0), 1, 1, fill=False, edgecolor="k", label="the step on the right"),
    ]
    viz.legend_outside(ax, handles=handles, ncols=2)


def _step_panel(ax: Any, spec: StepFigure, steps: list, box: tuple) -> list[str]:
    surface = landscapes.get("quadratic")
    step = steps[spec.step]
    viz.contour(ax, surface, bounds=box, mark_minima=False)
    viz.trajectory(
        ax, viz.path(steps), optimizer=spec.label, markersize=6, linewidth=1.2, alpha=0.8
    )
    drawn = viz.draw_step(ax, step, width=3.0)
    viz.label_step(ax, step, spec.step)
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set_title(f"step $t = {spec.step}$, decomposed (box on the left)")
    return [
        p
        for p in ("perturbation", "lookahead", "momentum", "gradient", "gradient_applied")
        if p in drawn
    ]


def draw_steps(key: str, num_steps: int = 40) -> Any:
    """``<key>_steps.png``: the whole path (left) and one step with its arrows (right)."""
    spec = STEP_FIGURES[key]
    surface = landscapes.get("quadratic")
    steps = viz.trace_steps(spec.make(), surface.grad_fn(), surface.start, num_steps)
    box = viz.step_window([steps[spec.step]], pad=0.3)

    fig = new_figure(figsize=(11, 7.4))
    left, right = fig.subplots(1, 2)
    _path_panel(left, spec, steps, box)
    parts = _step_panel(right, spec, steps, box)
    viz.step_legend(right, parts, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    fig.suptitle(spec.title)
    return fig


def animation(num_steps: int = 24) -> tuple[Any, Any]:
    """MSAM on the quadratic, one step per frame: the path (left) and the step
    decomposed in a window that follows it (right). Returns ``(figure, FuncAnimation)``."""
    surface = landscapes.get("quadratic")
    steps = viz.trace_steps(
        STEP_FIGURES["msam"].make(), surface.grad_fn(), surface.start, num_steps
    )
    fig = new_figure(figsize=(11, 7.0))
    ax, zoom = fig.subplots(1, 2)
    viz.contour(ax, surface, bounds=((-1.7, 1.3), (-0.4, 2.6)))
    viz.contour(zoom, surface, bounds=((-1.7, 1.3), (-0.4, 2.6)), n=300, mark_minima=False)
    zoom.set_title("the step, decomposed (box on the left)")
    viz.step_legend(
        zoom,
        ("perturbation", "momentum", "gradient", "gradient_applied"),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        frameon=False,
    )

    def title(k: int, step: viz.Step) -> str:
        return f"MSAM ($\\rho=0.3$, $\\eta={LR}$), step {k}: loss at ${TW}_{{{k}}}$ {step.loss:.3f}"

    anim = viz.animate_steps(
        fig, ax, steps, title=title, labels=True, optimizer="MSAM", zoom=zoom, width=3.0
    )
    ax.set_title(title(0, steps[0]))  # lay the figure out once, with a title, and keep it
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig, anim


def first_frame(num_steps: int = 24) -> Any:
    """The animation's figure showing its first frame (for inspection)."""
    fig, anim = animation(num_steps)
    anim.draw_frame(0)
    return fig


def msam_animation(out_dir: Path, fps: int = 2, dpi: int = 100) -> Path:
    """Write ``msam_animation.gif`` (one shared palette, atomically)."""
    _, anim = animation()
    return viz.save_animation(anim, Path(out_dir) / "msam_animation.gif", fps=fps, dpi=dpi)
