"""SGD, NAG, SAM and MSAM on the sharp-flat surface: paths, and which well they end in.

``sharp_flat_trajectories.png`` is drawn from the code (seconds). The fractions in
``sharp_flat_basins.png`` take minutes, so :func:`basins_data` computes them into a
JSON file (committed under ``figures/data/``) that :func:`draw_basins` draws from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import optim, viz
from minimsam.data import landscapes

from .base import new_figure

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
BASINS = {"num_starts": 60, "num_steps": 120, "rhos": [0.1, 0.3, 0.5], "noises": [0.0, 1.0]}


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


def ends_flat(
    make: Callable[[], optim.Optimizer], starts: np.ndarray, num_steps: int, noise: float
) -> list[bool]:
    """For each start (run ``i`` with noise seed ``i``): does the run end in the flat well?"""
    ends = [run_from(make(), s, num_steps, noise, seed=i)[-1] for i, s in enumerate(starts)]
    return [bool(end[0] > SADDLE_X) for end in ends]


def flat_fraction(
    make: Callable[[], optim.Optimizer], starts: np.ndarray, num_steps: int, noise: float
) -> float:
    """Fraction of runs from ``starts`` whose last iterate is in the flat basin (x > saddle)."""
    return float(np.mean(ends_flat(make, starts, num_steps, noise)))


def draw_trajectories(num_starts: int = 6, num_steps: int = 200, noise: float = 0.5) -> Any:
    """``sharp_flat_trajectories.png``: the four optimizers from the same starts, noisy."""
    from matplotlib.lines import Line2D

    surface = landscapes.get("sharp-flat")
    starts = random_starts(num_starts, seed=1)
    fig = new_figure(figsize=(13, 4.5))
    axes = fig.subplots(1, 4, sharey=True)
    for ax, (label, make) in zip(axes, SHARP_FLAT_OPTIMIZERS.items()):
        viz.contour(ax, surface, levels=20)
        style = viz.optimizer_style(label)
        flat = 0
        for i, start in enumerate(starts):
            pts = run_from(make(SHARP_FLAT_RHO), start, num_steps, noise, seed=i)
            ax.plot(pts[:, 0], pts[:, 1], color=style["color"], linewidth=1.0)
            ax.plot(*pts[0], marker="s", markersize=5, color="k", linestyle="none")
            ax.plot(
                *pts[-1],
                marker=style["marker"],
                markersize=8,
                color=style["color"],
                markeredgecolor="k",
                linestyle="none",
                zorder=6,
            )
            flat += pts[-1, 0] > SADDLE_X
        rho = f", $\\rho={SHARP_FLAT_RHO}$" if label in ("SAM", "MSAM") else ""
        ax.set_title(f"{label}{rho}: {flat}/{num_starts} end in the flat well")
    handles = [Line2D([], [], marker="s", color="k", linestyle="none", label="start")]
    handles += [
        Line2D(
            [],
            [],
            color=viz.COLORS[n],
            marker=viz.optimizer_style(n)["marker"],
            markeredgecolor="k",
            label=f"{n}: path and end point",
        )
        for n in SHARP_FLAT_OPTIMIZERS
    ]
    handles.append(
        Line2D(
            [],
            [],
            marker="*",
            color="w",
            markeredgecolor="k",
            markersize=12,
            linestyle="none",
            label="minima (sharp left, flat right)",
        )
    )
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle(
        f"Sharp well (left) and flat well (right) of equal depth: {num_steps} steps, "
        f"lr {SHARP_FLAT_LR}, momentum 0.9, gradient noise {noise}"
    )
    return fig


def _basin_key(label: str, rho: float, noise: float) -> str:
    rho = rho if label in ("SAM", "MSAM") else 0.0
    return f"{label} rho={rho:g} noise={noise:g}"


def basin_runs(setting: dict) -> list[tuple[str, float, float]]:
    """Every (optimizer, rho, noise) the basins figure needs, without repeats."""
    runs = [
        (n, SHARP_FLAT_RHO, noise) for noise in setting["noises"] for n in SHARP_FLAT_OPTIMIZERS
    ]
    runs += [(n, r, 0.0) for n in ("SAM", "MSAM") for r in setting["rhos"]]
    unique = {}
    for label, rho, noise in runs:
        unique.setdefault(_basin_key(label, rho, noise), (label, rho, noise))
    return list(unique.values())


def basins_data(setting: dict | None = None, first: int | None = None) -> dict:
    """``{"setting": ..., "ends_flat": {key: [bool per start]}}`` for the basins figure.

    ``first`` computes only the first ``first`` starts (a test recomputes a few of them;
    run ``i`` uses noise seed ``i``, so they equal the full computation's first runs).
    """
    setting = dict(BASINS if setting is None else setting)
    points = random_starts(setting["num_starts"], seed=0)[:first]
    ends = {}
    for label, rho, noise in basin_runs(setting):
        make = SHARP_FLAT_OPTIMIZERS[label]
        ends[_basin_key(label, rho, noise)] = ends_flat(
            lambda make=make, rho=rho: make(rho), points, setting["num_steps"], noise
        )
    return {"setting": setting, "ends_flat": ends}


def draw_basins(data: dict) -> Any:
    """The basins figure from :func:`basins_data`'s output."""
    from matplotlib.patches import Patch

    setting, ends = data["setting"], data["ends_flat"]

    def fraction(label: str, rho: float, noise: float) -> float:
        return float(np.mean(ends[_basin_key(label, rho, noise)]))

    fig = new_figure(figsize=(12, 5.2))
    left, right = fig.subplots(1, 2)
    names = list(SHARP_FLAT_OPTIMIZERS)
    width = 0.38
    for j, noise in enumerate(setting["noises"]):
        xs = np.arange(len(names)) + (j - 0.5) * width
        bars = left.bar(
            xs,
            [fraction(n, SHARP_FLAT_RHO, noise) for n in names],
            width,
            color=[viz.COLORS[n] for n in names],
            hatch="" if noise == 0 else "//",
            edgecolor="k",
        )
        left.bar_label(bars, fmt="%.2f", fontsize=9)
    noise_handles = [
        Patch(facecolor="white", edgecolor="k", hatch="" if noise == 0 else "//",
              label=f"gradient noise {noise:g}")
        for noise in setting["noises"]
    ]  # fmt: skip
    left.set_xticks(np.arange(len(names)), names)
    left.set_xlabel("optimizer")
    left.set_ylim(0, 1.12)
    left.set_ylabel("fraction ending in the flat well")
    left.set_title(
        f"{setting['num_starts']} uniform random starts, {setting['num_steps']} steps, "
        f"$\\rho={SHARP_FLAT_RHO}$"
    )
    viz.legend_outside(left, handles=noise_handles, ncols=2)
    rhos = setting["rhos"]
    for label in ("SGD", "NAG"):
        style = viz.optimizer_style(label)
        right.axhline(
            fraction(label, 0.0, 0.0),
            color=style["color"],
            linestyle=style["linestyle"],
            linewidth=2,
            label=f"{label} (no $\\rho$)",
        )
    for label in ("SAM", "MSAM"):
        ys = [fraction(label, r, 0.0) for r in rhos]
        right.plot(rhos, ys, label=label, linewidth=2, markersize=8, **viz.optimizer_style(label))
    right.set_xlabel(r"radius $\rho$")
    right.set_ylabel("fraction ending in the flat well")
    right.set_ylim(0, 1.05)
    right.set_title("against the radius $\\rho$ (exact gradients)")
    viz.legend_outside(right, ncols=4)
    fig.suptitle(
        f"Sharp-flat surface, lr {SHARP_FLAT_LR}, momentum 0.9: which well do the optimizers "
        "end in? (toy illustration)"
    )
    return fig
