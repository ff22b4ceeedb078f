"""Plotting helpers for tutorials and figures (matplotlib, imported only when called).

The math lives elsewhere; these functions draw host arrays that the measuring
functions (e.g. :func:`minimsam.sharpness.loss_surface_2d`) return.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_surface"]


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
