"""2-D filter-normalised loss surfaces around the solutions of SGD, SAM and MSAM (Fig. A.13).

Paper Appx. A.11, Fig. A.13 (Li et al. 2018 surfaces). One seed each of SGD, SAM
(rho 0.2) and MSAM (rho 2.0) is trained on MNIST-1D in the setting of
``train.DEFAULTS`` (MLP 40-256-256-10, batch 128, 30 epochs, cosine lr from 0.2,
momentum 0.9). Around each final unperturbed solution ``w`` the training loss (plain
cross-entropy, on a fixed subset of 1000 training samples, float64) is evaluated on the
grid ``L(w + a d1 + b d2)`` for ``a, b`` in [-0.5, 0.5], with ``d1, d2`` two random
directions filter-normalised to ``w`` (per output unit of each linear layer; biases 0),
drawn with the same seeds for every optimizer. The panels share their contour levels.

Measured run time: see results/surface.md (about half a minute on the 2-core CPU,
OPENBLAS_NUM_THREADS=1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import data, nn, sharpness

from . import common

NAME = "surface"
OPTIMIZERS = ("sgd", "sam", "msam")
RHO = {"sam": 0.2, "msam": 2.0}
SUBSET, EXTENT, GRID = 1000, 0.5, 25


def surface_of(w: dict, x: np.ndarray, y: np.ndarray, n: int) -> dict[str, Any]:
    """The loss grid around ``w`` along two seeded filter-normalised directions."""
    w64 = {k: ms.asarray(ms.to_numpy(v).astype(np.float64)) for k, v in w.items()}
    model = nn.MLP(common.SIZES)
    xs, ys = ms.asarray(x.astype(np.float64)), ms.asarray(y)

    def loss(p: dict) -> Any:
        return nn.cross_entropy(model(p, xs), ys)

    d1 = sharpness.random_direction(w64, seed=1, normalization="filter")
    d2 = sharpness.random_direction(w64, seed=2, normalization="filter")
    alphas, betas, grid = sharpness.loss_surface_2d(loss, w64, d1, d2, extent=EXTENT, n=n)
    return {"alphas": alphas, "betas": betas, "grid": grid, "center": float(grid[n // 2, n // 2])}


def compute(quick: bool) -> dict:
    ds, epochs, subset, n = common.mnist1d(), common.EPOCHS, SUBSET, GRID
    if quick:
        ds, epochs, subset, n = common.shrink(ds, 512, 256), 2, 128, 5
    idx = data.subset_indices(len(ds.y_train), subset, seed=0)
    runs = {}
    for kind in OPTIMIZERS:
        opt = common.make_optimizer(kind, common.steps_for(ds, epochs), rho=RHO.get(kind))
        result = common.fit(ds, opt, seed=0, epochs=epochs)
        runs[kind] = {
            **common.final(result),
            **surface_of(result.eval_params, ds.x_train[idx], ds.y_train[idx], n),
        }
    return {
        "setting": {
            "dataset": "mnist1d",
            "model": f"MLP {common.SIZES}",
            "epochs": epochs,
            "rho": RHO,
            "seed": 0,
            "subset": f"{subset} training samples (data.subset_indices(seed=0)), float64",
            "grid": f"{n} x {n} on [-{EXTENT}, {EXTENT}]^2, directions seeds 1, 2",
        },
        "runs": runs,
    }


def plot(payload: dict) -> Any:
    runs = payload["runs"]
    fig = common.figure(figsize=(4.2 * len(runs), 4.0))
    axes = fig.subplots(1, len(runs))
    grids = [np.asarray(r["grid"]) for r in runs.values()]
    low = min(g.min() for g in grids)
    levels = low + np.geomspace(1e-3, max(g.max() for g in grids) - low + 1e-3, 18)
    for ax, (kind, r) in zip(np.atleast_1d(axes), runs.items()):
        a, b, g = np.asarray(r["alphas"]), np.asarray(r["betas"]), np.asarray(r["grid"])
        ax.contourf(a, b, g.T, levels=levels, cmap="viridis", extend="max")
        ax.contour(a, b, g.T, levels=levels, colors="k", linewidths=0.3)
        ax.plot(0, 0, "w*", ms=10)
        ax.set_title(f"{common.LABELS[kind]}: test acc {r['test_acc']:.3f}")
        ax.set_xlabel("$d_1$ (filter-normalised)")
    np.atleast_1d(axes)[0].set_ylabel("$d_2$ (filter-normalised)")
    fig.suptitle("Training loss around the final weights (shared contour levels, log-spaced)")
    return fig


def _width(r: dict) -> float:
    """Fraction of the grid within 0.1 of the centre loss: a crude flatness score."""
    g = np.asarray(r["grid"])
    return float(np.mean(g - r["center"] < 0.1))


def summarize(payload: dict) -> str:
    runs = payload["runs"]
    rows = [
        [common.LABELS[k], f"{r['test_acc']:.4f}", f"{r['center']:.4f}",
         f"{np.asarray(r['grid']).max():.3f}", f"{_width(r):.2f}"]
        for k, r in runs.items()
    ]  # fmt: skip
    best = max(_width(r) for r in runs.values())
    widest = " and ".join(common.LABELS[k] for k, r in runs.items() if _width(r) == best)
    shares = ", ".join(f"{common.LABELS[k]} {_width(r):.2f}" for k, r in runs.items())
    finding = (
        f"**Result.** One seed each. The share of the [-{EXTENT}, {EXTENT}]^2 grid whose loss "
        "is within 0.1 "
        f"of the loss at the solution is {shares}; the widest basin by this measure is "
        f"{widest}'s. The paper (Fig. A.13) "
        "finds MSAM's surface flattest on WideResNets; at this scale and with one seed this is "
        "an illustration, not evidence."
    )
    return "\n\n".join([
        "## 2-D loss surfaces around the solutions (paper Fig. A.13)",
        finding,
        common.md_table(["optimizer", "test acc", "loss at w", "max loss on grid",
                         "share within 0.1 of L(w)"], rows),  # fmt: skip
        "Setting: " + "; ".join(f"{k}: {v}" for k, v in payload["setting"].items()) + ".",
    ])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    return common.main(NAME, __doc__.splitlines()[0], compute, plot, summarize, argv)


if __name__ == "__main__":
    raise SystemExit(main())
