"""minimsam.tutorial.sam_loss_plot: the SAM-loss figure of tutorial 03 is legible."""

import numpy as np
import pytest

plt = pytest.importorskip("matplotlib.pyplot")

from minimsam import tutorial, viz  # noqa: E402


def test_sam_loss_plot_labels_palette_styles_and_legend_outside():
    xs = np.linspace(-2.0, 2.2, 85)
    line = np.stack([xs, np.zeros_like(xs)], axis=1)
    loss = np.array([tutorial.sharp_flat_grad(w)[0] for w in line])
    curves = {r: tutorial.sam_loss(line, r)[0] for r in (0.1, 0.3)}
    fig, ax = plt.subplots(layout="constrained")
    try:
        tutorial.sam_loss_plot(ax, xs, loss, curves, tutorial.SADDLE[0], rho=0.3)
        assert ax.get_xlabel() and ax.get_ylabel()
        sam_lines = [ln for ln in ax.get_lines() if ln.get_color() == viz.COLORS["SAM"]]
        assert len(sam_lines) == 2
        styles = {(ln.get_linestyle(), ln.get_marker()) for ln in sam_lines}
        assert len(styles) == 2  # a second cue besides the shared colour
        fig.canvas.draw()
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1  # right of the axes, off the data
    finally:
        plt.close(fig)


def test_swing_figure_magnifies_the_first_steps_and_keeps_the_legend_off_the_data():
    steps = np.arange(150)
    offsets = {
        "SAM": 0.05 * np.cos(steps) * np.exp(steps / 60),
        "SGD": 0.05 * np.cos(steps) * 0.98**steps,
    }
    fig = tutorial.swing_figure(offsets, saddle_offset=0.53, flat_offset=1.95, width=0.2)
    try:
        whole, first = fig.axes
        assert whole.get_xlim() == (0, 149) and first.get_xlim() == (0, 30)
        assert first.get_ylim() == (-0.35, 0.35)
        for ax in (whole, first):
            assert ax.get_xlabel() and ax.get_ylabel()
            styles = {(ln.get_color(), ln.get_marker()) for ln in ax.get_lines()[:2]}
            assert len(styles) == 2  # colour and marker per optimizer
        fig.canvas.draw()
        legend = whole.get_legend().get_window_extent()
        assert legend.x0 >= whole.get_window_extent().x1  # right of the panel, off the data
    finally:
        plt.close(fig)
