"""Tutorial 05's helpers: the median's interval, the timing verdict and the two figures."""

import numpy as np
import pytest

from minimsam.tutorial import gap_figure, median_interval, seed_sweep_figure, timing_verdict

plt = pytest.importorskip("matplotlib.pyplot")


def test_median_interval_uses_the_14th_and_27th_of_40_values():
    values = np.random.default_rng(0).permutation(40).astype(float)
    assert median_interval(values) == (19.5, 13.0, 26.0)


def test_median_interval_covers_the_true_median_about_96_percent_of_the_time():
    # skewed rounds with outliers, like timings on a loaded machine; true median log 2
    rng = np.random.default_rng(1)
    trials = [median_interval(rng.exponential(size=40)) for _ in range(2000)]
    covered = np.mean([low <= np.log(2) <= high for _, low, high in trials])
    assert 0.94 < covered < 0.98  # exact coverage 1 - 2 P(B(40, 1/2) <= 13) = 0.9615


def test_median_interval_refuses_too_few_values():
    with pytest.raises(ValueError, match="too few"):
        median_interval([1.0, 2.0, 3.0, 4.0, 5.0])


@pytest.mark.parametrize(
    ("low", "high", "predicted", "verdict"),
    [
        (0.95, 1.1, 1, "close to"),
        (1.8, 2.3, 2, "close to"),
        (1.3, 1.4, 1, "NOT close to"),
        (0.5, 0.7, 1, "NOT close to"),
        (1.2, 1.3, 1, "undecided about"),  # the interval straddles 1.25
    ],
)
def test_timing_verdict_judges_the_whole_interval(low, high, predicted, verdict):
    assert timing_verdict(low, high, predicted) == verdict


def _sweep():
    return {
        (0.0, 0): 0.70, (0.0, 1): 0.72, (1.0, 0): 0.73, (1.0, 1): 0.72,
        (2.0, 0): 0.69, (2.0, 1): 0.70, (4.0, 0): 0.40, (4.0, 1): 0.30,
    }  # fmt: skip


def test_seed_sweep_figure_zooms_on_sgd_and_labels_what_falls_below():
    fig = seed_sweep_figure(_sweep(), noise=0.01, title="t", below=0.06)
    ax = fig.axes[0]
    assert ax.get_ylim()[0] == pytest.approx(0.71 - 0.06)
    notes = [t.get_text() for t in ax.texts]
    assert len(notes) == 1 and "rho = 4" in notes[0]
    assert "mean 0.350" in notes[0] and "seed 1 0.300" in notes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    plt.close(fig)


def test_gap_figure_draws_every_difference_inside_a_symmetric_range():
    runs = {
        8: ({"SGD": 0.70, "NAG": 0.69, "SAM": 0.64, "MSAM": 0.65}, 0.01),
        30: ({"SGD": 0.71, "NAG": 0.71, "SAM": 0.70, "MSAM": 0.72}, 0.02),
    }
    fig = gap_figure(runs)
    axes = fig.axes
    assert len(axes) == 2 and axes[0].get_ylabel()
    for ax, (test, _) in zip(axes, runs.values()):
        low, high = ax.get_ylim()
        assert low == -high
        drawn = [line.get_ydata()[0] for line in ax.lines if line.get_marker() not in ("", "None")]
        expected = [100 * (test[k] - test["SGD"]) for k in ("NAG", "SAM", "MSAM")]
        assert drawn == pytest.approx(expected) and all(low < y < high for y in drawn)
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["NAG", "SAM", "MSAM"]
    plt.close(fig)
