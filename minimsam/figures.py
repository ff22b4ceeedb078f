"""Regenerate every figure in figures/ from the library, deterministically.

::

    python -m minimsam.figures                    # all figures into ./figures
    python -m minimsam.figures --only msam_steps  # one figure (repeat --only for more)
    python -m minimsam.figures --out /tmp/figs --list

Every figure is computed here from the public library (optimizers traced with
opt.step(..., trace=True), minimsam.train.fit, the toy surfaces of
minimsam.data.landscapes) and drawn with minimsam.viz. Runs are seeded, and the
files carry no dates or versions (svg.hashsalt is fixed; PNGs are saved with
metadata={"Software": None}), so regenerating gives the same bytes on the same
platform. Figures are drawn on matplotlib.figure.Figure objects, not through pyplot,
so this module never changes the caller's matplotlib backend.

The toy-surface figures take seconds; the MNIST-1D ones train small MLPs (about a
minute each on two cores) and take their budget (epochs) as an argument.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import optim, viz
from minimsam.atomic import atomic_path
from minimsam.data import landscapes

__all__ = ["FIGURES", "figure_style", "figures", "main"]

STYLE = {
    "svg.hashsalt": "minimsam",
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "figure.dpi": 100,
}
DPI = 110


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """The rcParams every figure is drawn with, and the NumPy backend (as a context)."""
    import matplotlib

    with matplotlib.rc_context(STYLE), ms.use_backend("numpy"):
        yield


def _figure(**kwargs: Any) -> Any:
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kwargs)


def _save(fig: Any, out_dir: Path, name: str) -> Path:
    return viz.save_figure(fig, Path(out_dir) / name, dpi=DPI)


# ----------------------------------------------------------------------------- one step, drawn


@dataclass(frozen=True)
class StepFigure:
    """How to draw one optimizer's steps on the ill-conditioned quadratic."""

    label: str
    make: Callable[[], optim.Optimizer]
    detail: tuple[int, int]  # the steps drawn with arrows, [first, last)
    title: str


LR = 0.01  # lr * a = 0.2 on the quadratic (a = 20): heavy-ball oscillates along x
STEP_FIGURES = {
    "sgd": StepFigure(
        "SGD",
        lambda: optim.SGD(lr=LR, momentum=0.9),
        (4, 6),
        r"SGD + momentum: $w_{t+1} = w_t - \eta\,(\mu v_t + g(w_t))$",
    ),
    "nag": StepFigure(
        "NAG",
        lambda: optim.NAG(lr=LR, momentum=0.9),
        (4, 6),
        r"NAG: gradient at the look-ahead $a_t = w_t - \eta\mu v_t$",
    ),
    "sam": StepFigure(
        "SAM",
        lambda: optim.SAM(lr=LR, momentum=0.9, rho=0.15),
        (4, 6),
        r"SAM ($\rho=0.15$): gradient at $w_t + \rho\, g(w_t)/\|g(w_t)\|$",
    ),
    "msam": StepFigure(
        "MSAM",
        lambda: optim.MSAM(lr=LR, momentum=0.9, rho=0.3),
        (7, 9),
        r"MSAM ($\rho=0.3$): gradient at $w_t - \rho\, v_t/\|v_t\|$",
    ),
}


def steps_figure(key: str, out_dir: Path, num_steps: int = 40) -> Path:
    """``<key>_steps.png``: the whole path (left) and two steps with their arrows (right)."""
    from matplotlib.patches import Rectangle

    spec = STEP_FIGURES[key]
    surface = landscapes.get("quadratic")
    steps = viz.trace_steps(spec.make(), surface.grad_fn(), surface.start, num_steps)
    color = viz.COLORS[spec.label]
    first, last = spec.detail
    detail = steps[first:last]
    box = viz.step_window(detail)

    fig = _figure(figsize=(10, 4.6))
    left, right = fig.subplots(1, 2)
    viz.contour(left, surface)
    viz.trajectory(left, viz.path(steps), label=spec.label, color=color)
    left.add_patch(
        Rectangle(
            (box[0][0], box[1][0]),
            box[0][1] - box[0][0],
            box[1][1] - box[1][0],
            fill=False,
            edgecolor="k",
        )
    )
    left.set_title(f"{spec.label}, {num_steps} steps from $w_0$ (square), lr $\\eta={LR}$")
    left.legend(loc="lower right")

    viz.contour(right, surface, bounds=box, mark_minima=False)
    viz.trajectory(right, viz.path(steps), color=color, markersize=5)
    drawn: set[str] = set()
    for s in detail:
        drawn.update(viz.draw_step(right, s))
    for offset, s in enumerate(detail):
        t = first + offset
        right.annotate(
            f"$w_{{{t}}}$", s.points["w"], xytext=(-14, 6), textcoords="offset points", fontsize=9
        )
    end = detail[-1].points["w_next"]
    right.annotate(f"$w_{{{last}}}$", end, xytext=(-14, 6), textcoords="offset points")
    right.set_xlim(*box[0])
    right.set_ylim(*box[1])
    parts = [p for p in ("perturbation", "lookahead", "momentum", "gradient") if p in drawn]
    viz.step_legend(right, parts, loc="lower left", framealpha=0.9)
    right.set_title(f"steps {first} to {last - 1} (box on the left)")
    fig.suptitle(spec.title)
    return _save(fig, out_dir, f"{key}_steps.png")


# ----------------------------------------------------------------------------- sharp and flat

SHARP_FLAT_LR = landscapes.get("sharp-flat").lr  # the surface's demonstration lr
SHARP_FLAT_OPTIMIZERS: dict[str, Callable[[float], optim.Optimizer]] = {
    "SGD": lambda rho: optim.SGD(lr=SHARP_FLAT_LR, momentum=0.9),
    "NAG": lambda rho: optim.NAG(lr=SHARP_FLAT_LR, momentum=0.9),
    "SAM": lambda rho: optim.SAM(lr=SHARP_FLAT_LR, momentum=0.9, rho=rho),
    "MSAM": lambda rho: optim.MSAM(lr=SHARP_FLAT_LR, momentum=0.9, rho=rho),
}
SHARP_FLAT_RHO = 0.3
# x of the saddle between the wells (landscapes docstring): left of it is the sharp basin
SADDLE_X = -0.46764287618237907


def random_starts(n: int, seed: int = 0) -> np.ndarray:
    """``n`` points drawn uniformly from the sharp-flat surface's window, shape ``(n, 2)``."""
    (x0, x1), (y0, y1) = landscapes.get("sharp-flat").bounds
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)], axis=1)


def run_from(
    opt: optim.Optimizer, start: Sequence[float], num_steps: int, noise: float, seed: int
) -> np.ndarray:
    """The iterates of ``opt`` on the sharp-flat surface, noisy gradients, shape ``(T+1, 2)``."""
    surface = landscapes.get("sharp-flat")
    grad_fn = surface.grad_fn(noise=noise, seed=seed)
    params = {"w": ms.asarray(np.asarray(start, dtype=float))}
    state = opt.init(params)
    points = [ms.to_numpy(params["w"])]
    for _ in range(num_steps):
        params, state, _ = opt.step(params, state, grad_fn)
        points.append(ms.to_numpy(opt.eval_params(params, state)["w"]))
    return np.array(points, dtype=float)


def flat_fraction(
    make: Callable[[], optim.Optimizer], starts: np.ndarray, num_steps: int, noise: float
) -> float:
    """Fraction of runs from ``starts`` whose last iterate is in the flat basin (x > saddle)."""
    ends = [run_from(make(), s, num_steps, noise, seed=i)[-1] for i, s in enumerate(starts)]
    return float(np.mean([end[0] > SADDLE_X for end in ends]))


def sharp_flat_trajectories(
    out_dir: Path, num_starts: int = 6, num_steps: int = 200, noise: float = 0.5
) -> Path:
    """``sharp_flat_trajectories.png``: the four optimizers from the same starts, noisy."""
    surface = landscapes.get("sharp-flat")
    starts = random_starts(num_starts, seed=1)
    fig = _figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 4, sharey=True)
    for ax, (label, make) in zip(axes, SHARP_FLAT_OPTIMIZERS.items()):
        viz.contour(ax, surface, levels=20)
        ends_flat = 0
        for i, start in enumerate(starts):
            pts = run_from(make(SHARP_FLAT_RHO), start, num_steps, noise, seed=i)
            ax.plot(pts[:, 0], pts[:, 1], color=viz.COLORS[label], linewidth=0.8, alpha=0.9)
            ax.plot(*pts[0], marker="s", markersize=4, color="k", linestyle="none")
            ax.plot(
                *pts[-1],
                marker="o",
                markersize=6,
                color=viz.COLORS[label],
                markeredgecolor="w",
                linestyle="none",
                zorder=6,
            )
            ends_flat += pts[-1, 0] > SADDLE_X
        rho = f", $\\rho={SHARP_FLAT_RHO}$" if label in ("SAM", "MSAM") else ""
        ax.set_title(f"{label}{rho}: {ends_flat}/{num_starts} end in the flat well")
    fig.suptitle(
        f"Sharp well (left) and flat well (right) of equal depth: {num_steps} steps, "
        f"lr {SHARP_FLAT_LR}, momentum 0.9, gradient noise {noise} (squares: starts)"
    )
    return _save(fig, out_dir, "sharp_flat_trajectories.png")


def sharp_flat_basins(
    out_dir: Path,
    num_starts: int = 60,
    num_steps: int = 120,
    rhos: Sequence[float] = (0.1, 0.3, 0.5),
) -> Path:
    """``sharp_flat_basins.png``: how often each optimizer ends in the flat well.

    Left: the four optimizers (rho 0.3) from ``num_starts`` uniform random starts,
    with exact gradients and with gradient noise 1. Right: the same fraction (exact
    gradients) against rho for SAM and MSAM, with SGD and NAG as horizontal lines.
    """
    starts = random_starts(num_starts, seed=0)
    cache: dict[tuple[str, float, float], float] = {}

    def fraction(label: str, rho: float, noise: float) -> float:
        key = (label, rho if label in ("SAM", "MSAM") else 0.0, noise)
        if key not in cache:
            make = SHARP_FLAT_OPTIMIZERS[label]
            cache[key] = flat_fraction(lambda: make(rho), starts, num_steps, noise)
        return cache[key]

    fig = _figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2)
    names = list(SHARP_FLAT_OPTIMIZERS)
    width = 0.38
    for j, noise in enumerate((0.0, 1.0)):
        fractions = [fraction(n, SHARP_FLAT_RHO, noise) for n in names]
        xs = np.arange(len(names)) + (j - 0.5) * width
        bars = left.bar(
            xs,
            fractions,
            width,
            color=[viz.COLORS[n] for n in names],
            alpha=0.55 if noise == 0 else 1.0,
            edgecolor="k",
            label=f"gradient noise {noise:g}",
        )
        left.bar_label(bars, fmt="%.2f", fontsize=7)
    left.set_xticks(np.arange(len(names)), names)
    left.set_ylim(0, 1.1)
    left.set_ylabel("fraction ending in the flat well")
    left.set_title(
        f"{num_starts} uniform random starts, {num_steps} steps, $\\rho={SHARP_FLAT_RHO}$"
    )
    left.legend(loc="lower right")
    for label in ("SGD", "NAG"):
        right.axhline(
            fraction(label, 0.0, 0.0), color=viz.COLORS[label], linestyle="--", label=label
        )
    for label in ("SAM", "MSAM"):
        ys = [fraction(label, r, 0.0) for r in rhos]
        right.plot(rhos, ys, marker="o", color=viz.COLORS[label], label=label)
    right.set_xlabel(r"$\rho$")
    right.set_ylabel("fraction ending in the flat well")
    right.set_ylim(0, 1.05)
    right.set_title("against the radius $\\rho$ (exact gradients)")
    right.legend(loc="lower right")
    fig.suptitle(
        f"Sharp-flat surface, lr {SHARP_FLAT_LR}, momentum 0.9: which well do the optimizers "
        "end in? (toy illustration)"
    )
    return _save(fig, out_dir, "sharp_flat_basins.png")


def msam_animation(out_dir: Path, num_steps: int = 24, fps: int = 2) -> Path:
    """``msam_animation.gif``: MSAM on the quadratic, one step per frame, with its arrows."""
    from matplotlib.animation import PillowWriter

    surface = landscapes.get("quadratic")
    steps = viz.trace_steps(
        STEP_FIGURES["msam"].make(), surface.grad_fn(), surface.start, num_steps
    )
    fig = _figure(figsize=(5.4, 5.4))
    ax = fig.subplots()
    viz.contour(ax, surface, bounds=((-1.7, 1.3), (-0.4, 2.6)))
    viz.step_legend(ax, ("perturbation", "momentum", "gradient"), loc="lower right")

    def title(k: int, step: viz.Step) -> str:
        return f"MSAM ($\\rho=0.3$), step {k}: loss at the perturbed point {step.loss:.3f}"

    anim = viz.animate_steps(fig, ax, steps, color=viz.COLORS["MSAM"], title=title)
    path = Path(out_dir) / "msam_animation.gif"
    with atomic_path(path) as tmp:
        anim.save(tmp, writer=PillowWriter(fps=fps), dpi=90)
    return path


# ----------------------------------------------------------------------------- MNIST-1D

MNIST1D_SIZES = [40, 256, 256, 10]
MNIST1D_BATCH = 128


def _mnist1d() -> Any:
    from minimsam import data

    return data.load("mnist1d")


def _dot(a: dict, b: dict) -> Any:
    """``<a, b>`` over all entries of two params-like dicts (a device scalar)."""
    total = None
    for k in a:
        term = (a[k] * b[k]).sum()
        total = term if total is None else total + term
    return total


def _cosine(a: dict, b: dict) -> Any:
    """``<a, b> / (||a|| ||b|| + EPS)``, a device scalar (0 when either is zero)."""
    return _dot(a, b) / (optim.global_norm(a) * optim.global_norm(b) + optim.EPS)


def momentum_gradient_cosines(
    epochs: int, lr: Any, momentum: float = 0.9, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Train an MLP on MNIST-1D with SGD + momentum and measure, at every step ``t``,

    ``before[t] = cos(v_t, g_t)``: the momentum buffer before step ``t`` against the
    gradient ``g_t = g(w_t)`` of the NEW batch ``B_t`` at the current weights (paper
    Fig. 2C, ``cos(v_{t-1}, g_t)`` in its indexing); negative means the last step
    overshot along ``-v``, so a further step along ``-v`` (MSAM's perturbation) is an
    ascent on ``B_t``.

    ``after[t] = cos(v_{t+1}, g_t)``: the same gradient against the buffer after the
    update, which contains it (paper Fig. A.4; about 0.4-0.5 for mu = 0.9).

    Step 0 has ``v_0 = 0``, so ``before[0] = 0``. Returns host arrays of length
    ``epochs * steps_per_epoch``.
    """
    from minimsam import data, nn

    ds = _mnist1d()
    model = nn.MLP(MNIST1D_SIZES)
    value_and_grad = ms.value_and_grad(lambda w, x, y: nn.cross_entropy(model(w, x), y))
    opt = optim.SGD(lr=lr, momentum=momentum)
    params = model.init(seed=seed)
    state = opt.init(params)
    before, after = [], []
    for epoch in range(epochs):
        for xb, yb in data.epoch_batches(ds, MNIST1D_BATCH, seed=seed, epoch=epoch):
            v = state["momentum"]
            params, state, info = opt.step(
                params, state, lambda w, xb=xb, yb=yb: value_and_grad(w, xb, yb), trace=True
            )
            g = info.points["grad"]
            before.append(_cosine(v, g))
            after.append(_cosine(info.points["momentum"], g))
    to_host = lambda xs: np.array([float(x) for x in ms.to_numpy(xs)])  # noqa: E731
    return to_host(before), to_host(after)


def _moving_average(x: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(x)))
    return np.convolve(x, np.ones(window) / window, mode="valid")


def momentum_gradient_cosine(out_dir: Path, epochs: int = 30, lr: float | None = None) -> Path:
    """``momentum_gradient_cosine.png``: cos(v_t, g_t) during SGD-momentum training.

    ``lr`` defaults to ``train.DEFAULTS["sgd"]["lr"]``; one run at a constant ``lr``, one
    with a cosine schedule from it.
    """
    from minimsam import data, train

    lr = train.DEFAULTS["sgd"]["lr"] if lr is None else lr
    steps_per_epoch = data.num_batches(len(_mnist1d().y_train), MNIST1D_BATCH)
    total = epochs * steps_per_epoch
    runs = {
        f"constant lr {lr:g}": momentum_gradient_cosines(epochs, lr),
        f"cosine lr from {lr:g}": momentum_gradient_cosines(
            epochs, optim.schedules.cosine(lr, total)
        ),
    }
    fig = _figure(figsize=(11, 3.8))
    left, right = fig.subplots(1, 2, width_ratios=[2, 1])
    colors = ("#1f77b4", "#ff7f0e")
    for (name, (before, after)), color in zip(runs.items(), colors):
        steps = np.arange(1, total)
        left.plot(steps / steps_per_epoch, before[1:], color=color, alpha=0.18, linewidth=0.5)
        smooth = _moving_average(before[1:], steps_per_epoch)
        xs = (np.arange(len(smooth)) + steps_per_epoch) / steps_per_epoch
        left.plot(
            xs, smooth, color=color, linewidth=2, label=f"{name}: $\\cos(v_t, g_t)$, 1-epoch mean"
        )
        after_smooth = _moving_average(after, steps_per_epoch)
        xs_after = (np.arange(len(after_smooth)) + steps_per_epoch) / steps_per_epoch
        left.plot(
            xs_after,
            after_smooth,
            color=color,
            linestyle="--",
            linewidth=1.2,
            label=f"{name}: $\\cos(v_{{t+1}}, g_t)$ (after the update)",
        )
        negative = float(np.mean(before[1:] < 0))
        right.hist(
            before[1:],
            bins=40,
            color=color,
            alpha=0.5,
            label=f"{name}: {100 * negative:.0f}% < 0, mean {before[1:].mean():+.3f}",
        )
    left.axhline(0, color="k", linewidth=0.8)
    left.set_xlabel("epoch")
    left.set_ylabel("cosine")
    left.set_ylim(-0.6, 0.8)
    left.legend(loc="upper right", fontsize=7)
    left.set_title("momentum before the step vs the new batch's gradient (thin: every step)")
    right.axvline(0, color="k", linewidth=0.8)
    right.set_xlabel(r"$\cos(v_t, g_t)$ per step")
    right.set_ylabel("steps")
    right.legend(loc="upper left", fontsize=7)
    right.set_title("distribution over all steps")
    fig.suptitle(
        f"SGD + momentum 0.9 on MNIST-1D (MLP {MNIST1D_SIZES}, batch {MNIST1D_BATCH}, "
        f"{epochs} epochs): is $-v_t$ an ascent direction for the next batch? (paper Fig. 2C)"
    )
    return _save(fig, out_dir, "momentum_gradient_cosine.png")


def _fit(name: str, epochs: int, seed: int = 0, **hyper: Any) -> list[dict]:
    """Train the MNIST-1D MLP with ``train.make_optimizer(name, **hyper)``, cosine lr.

    Hyperparameters not given come from ``train.DEFAULTS`` (tuned for this setting).
    """
    from minimsam import data, nn, train

    ds = _mnist1d()
    steps = epochs * data.num_batches(len(ds.y_train), MNIST1D_BATCH)
    opt = train.make_optimizer(name, schedule="cosine", total_steps=steps, **hyper)
    model = nn.MLP(MNIST1D_SIZES)
    result = train.fit(
        model,
        model.init(seed=seed),
        opt,
        ds,
        epochs=epochs,
        batch_size=MNIST1D_BATCH,
        seed=seed,
        progress=False,
    )
    return result.history


def mnist1d_comparison(
    out_dir: Path,
    epochs: int = 30,
    rhos: Sequence[float] = (0.05, 0.2, 0.5, 2.0),
    seeds: Sequence[int] = (0, 1),
) -> Path:
    """``mnist1d_comparison.png``: SGD, NAG, SAM and MSAM on MNIST-1D.

    Left and middle: test accuracy per epoch and per gradient evaluation, seed 0, every
    optimizer at its ``train.DEFAULTS`` (SAM rho 0.2, MSAM rho 2.0). Right: final test
    accuracy against rho for SAM and MSAM, mean over ``seeds`` (dots: single runs), with
    SGD and NAG (mean over the same seeds) as horizontal lines.
    """
    from minimsam import train

    base = {name: [_fit(name, epochs, seed=s) for s in seeds] for name in ("sgd", "nag")}
    sweep = {
        (name, rho, s): _fit(name, epochs, seed=s, rho=rho)
        for name in ("sam", "msam")
        for rho in rhos
        for s in seeds
    }

    def default_run(name: str) -> list[dict]:
        rho = train.DEFAULTS[name]["rho"]
        return sweep.get((name, rho, seeds[0])) or _fit(name, epochs, seed=seeds[0])

    histories = {
        "SGD": base["sgd"][0],
        "NAG": base["nag"][0],
        "SAM": default_run("sam"),
        "MSAM": default_run("msam"),
    }
    fig = _figure(figsize=(12.5, 3.9))
    by_epoch, by_cost, by_rho = fig.subplots(1, 3)
    viz.plot_histories(by_epoch, histories, key="test_acc")
    viz.plot_histories(by_cost, histories, key="test_acc", x="grad_evals")
    for label, h in histories.items():
        hyper = train.DEFAULTS[label.lower()]
        rho = f", $\\rho={hyper['rho']:g}$" if "rho" in hyper else ""
        evals = h[-1]["grad_evals"] // max(1, h[-1]["steps"] // h[-1]["epoch"])
        by_epoch.plot(
            [], [], " ", label=f"{label}{rho}: {h[-1]['test_acc']:.3f} ({evals} grad/step)"
        )
    by_epoch.legend(fontsize=7, loc="lower right", ncols=2)
    by_epoch.set_title("test accuracy, seed 0 (final value)")
    by_cost.set_title("same, against gradient evaluations (cost)")
    by_cost.legend(fontsize=7, loc="lower right")
    levels = []
    for label, name in (("SGD", "sgd"), ("NAG", "nag")):
        levels.append(np.mean([h[-1]["test_acc"] for h in base[name]]))
        by_rho.axhline(levels[-1], color=viz.COLORS[label], linestyle="--", label=label)
    # zoom on the baselines; a collapsed run (large rho) is marked at the bottom edge
    bottom = max(0.0, min(levels) - 0.1)
    for label, name in (("SAM", "sam"), ("MSAM", "msam")):
        finals = np.array([[sweep[name, r, s][-1]["test_acc"] for s in seeds] for r in rhos])
        means = finals.mean(axis=1)
        by_rho.plot(
            rhos, np.maximum(means, bottom), marker="o", color=viz.COLORS[label], label=label
        )
        for column in finals.T:
            by_rho.plot(rhos, column, ".", color=viz.COLORS[label], alpha=0.45)
        for r, m in zip(rhos, means):
            if m < bottom:
                by_rho.annotate(
                    f"{label} {m:.2f}\n(off scale)",
                    (r, bottom),
                    xytext=(-70, 18),
                    textcoords="offset points",
                    fontsize=7,
                    arrowprops={"arrowstyle": "->", "color": viz.COLORS[label]},
                )
    by_rho.set_ylim(bottom, max(levels) + 0.05)
    by_rho.set_xscale("log")
    by_rho.set_xlabel(r"$\rho$")
    by_rho.set_ylabel("final test accuracy")
    by_rho.set_title(rf"against $\rho$: mean of {len(seeds)} seeds (dots: runs)")
    by_rho.legend(fontsize=7)
    lr = train.DEFAULTS["sgd"]["lr"]
    fig.suptitle(
        f"MNIST-1D, MLP {MNIST1D_SIZES}, {epochs} epochs, batch {MNIST1D_BATCH}, cosine lr "
        f"from {lr:g}, momentum 0.9 (train.DEFAULTS)"
    )
    return _save(fig, out_dir, "mnist1d_comparison.png")


# ----------------------------------------------------------------------------- registry and CLI


@dataclass(frozen=True)
class FigureSpec:
    """A figure: the function that writes it (``fn(out_dir) -> Path``) and its cost."""

    fn: Callable[[Path], Path]
    cheap: bool
    description: str


def _steps_entry(key: str) -> FigureSpec:
    return FigureSpec(
        lambda out: steps_figure(key, out),
        cheap=True,
        description=f"{STEP_FIGURES[key].label} on the quadratic, steps drawn from info.points",
    )


FIGURES: dict[str, FigureSpec] = {
    **{f"{k}_steps": _steps_entry(k) for k in STEP_FIGURES},
    "sharp_flat_trajectories": FigureSpec(
        sharp_flat_trajectories, True, "SGD, NAG, SAM, MSAM from the same starts, noisy"
    ),
    "sharp_flat_basins": FigureSpec(
        sharp_flat_basins, False, "fraction of random starts ending in the flat well, vs rho"
    ),
    "momentum_gradient_cosine": FigureSpec(
        momentum_gradient_cosine, False, "cos(v_t, g_t) while SGD-momentum trains on MNIST-1D"
    ),
    "mnist1d_comparison": FigureSpec(
        mnist1d_comparison, False, "test accuracy of SGD, NAG, SAM, MSAM on MNIST-1D, rho sweep"
    ),
    "msam_animation": FigureSpec(msam_animation, True, "msam_animation.gif, MSAM step by step"),
}


def figures(out: str | Path = "figures", only: Sequence[str] | None = None) -> list[Path]:
    """Write the figures named in ``only`` (default: all of ``FIGURES``) into ``out``."""
    names = list(FIGURES) if not only else list(only)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; valid names: {', '.join(FIGURES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with figure_style():
        for name in names:
            start = time.perf_counter()
            path = FIGURES[name].fn(out)
            print(f"{path}  ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m minimsam.figures [--only NAME ...] [--out DIR] [--list]``."""
    parser = argparse.ArgumentParser(
        prog="python -m minimsam.figures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        choices=list(FIGURES),
        help="make only this figure (repeatable); see --list",
    )
    parser.add_argument("--out", default="figures", help="output directory (default: figures)")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, spec in FIGURES.items():
            print(f"{name:28s} {'cheap' if spec.cheap else 'slow '}  {spec.description}")
        return 0
    figures(args.out, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
