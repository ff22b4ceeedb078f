"""Tests for the figure helpers of notebook 04: viz.signed_rho_figure and viz.sweep_figure."""

import numpy as np
import pytest

from minimsam import viz

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

RHOS = (-0.3, -0.1, 0.0, 0.1, 0.3)


def test_signed_rho_figure_gives_each_radius_its_own_colour_marker_and_line_style():
    curves = {r: np.linspace(2.0, 1.0, 50) * (1 + k) for k, r in enumerate(RHOS)}
    levels = {r: 0.1 * (1 + k) for k, r in enumerate(RHOS)}
    fig = viz.signed_rho_figure(curves, levels, smoothing=20)
    ax, ax_r = fig.axes[:2]
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    cues = {(to_hex(ln.get_color()), ln.get_marker(), str(ln.get_linestyle())) for ln in lines}
    assert len(lines) == len(RHOS) and len(cues) == len(RHOS)
    assert lines[0].get_xdata()[0] == 19  # a running mean over 20 steps starts at step 19
    points = ax_r.get_lines()
    assert [p.get_xdata()[0] for p in points] == list(RHOS)  # true x positions
    assert [p.get_ydata()[0] for p in points] == [levels[r] for r in RHOS]
    plt.close(fig)


def test_signed_rho_figure_rejects_more_radii_than_styles():
    many = {float(r): np.ones(3) for r in range(6)}
    with pytest.raises(ValueError, match="at most 5 radii"):
        viz.signed_rho_figure(many, many, smoothing=2)


def test_sweep_figure_turns_means_below_the_zoom_into_labelled_arrows_at_two_heights():
    rng = np.random.default_rng(0)
    baseline = 80 + rng.normal(0, 0.5, 5)
    accuracy = {r: baseline + shift for r, shift in ((-3.0, -60), (-1.0, -50), (0.0, 0), (1.0, 1))}
    loss = {-3.0: 50.0, -1.0: 20.0, 0.0: 1.0, 1.0: 2.0}
    fig = viz.sweep_figure(accuracy, loss, baseline)
    ax_acc, ax_loss = fig.axes[:2]
    arrows = ax_acc.texts
    assert [a.get_text() for a in arrows] == [
        f"{np.mean(accuracy[-3.0]):.0f}%",
        f"{np.mean(accuracy[-1.0]):.0f}%",
    ]
    heights = [a.xyann[1] for a in arrows]
    assert heights[0] != heights[1]  # neighbouring labels alternate, so they do not touch
    low, _ = ax_acc.get_ylim()
    assert low == pytest.approx(baseline.mean() - 4)
    ratios = ax_loss.get_lines()[0].get_ydata()
    assert list(ratios) == [loss[r] for r in sorted(loss)]
    plt.close(fig)


def test_sweep_figure_needs_the_same_radii_in_both_panels():
    with pytest.raises(ValueError, match="same radii"):
        viz.sweep_figure({0.0: np.ones(2)}, {1.0: 1.0}, np.ones(2))
