"""viz.draw_step's ``separation``: two arrows along one line drawn visibly apart."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from minimsam import optim, viz
from minimsam.data import landscapes


def _gap_points(separation):
    """Distance on the page (points) between MSAM's perturbation and momentum arrows."""
    quad = landscapes.get("quadratic")
    step = viz.trace_steps(optim.MSAM(lr=0.01, momentum=0.9, rho=0.3), quad.grad_fn(),
                           quad.start, 12)[5]  # fmt: skip
    fig = Figure(figsize=(5, 5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_aspect("equal")
    window = viz.step_window([step], pad=0.6)
    ax.set_xlim(*window[0])
    ax.set_ylim(*window[1])
    drawn = viz.draw_step(ax, step, separation=separation)
    fig.canvas.draw()
    (a0, a1), (b0, b1) = (
        drawn[p].get_transform().transform(drawn[p]._posA_posB)
        for p in ("perturbation", "momentum")
    )
    u = (a1 - a0) / np.linalg.norm(a1 - a0)
    r = b0 - a0
    return abs(u[0] * r[1] - u[1] * r[0]) * 72 / fig.dpi


def test_separation_sets_the_distance_between_arrows_on_one_line():
    # each arrow is moved `separation` points to its side: 2 * separation apart
    assert _gap_points(6.0) == pytest.approx(12.0, rel=0.02)
    assert _gap_points(None) == pytest.approx(2 * 0.7 * 2.6, rel=0.02)  # the default
