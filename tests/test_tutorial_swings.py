"""Tutorial 03's bookkeeping helpers (minimsam.tutorial): swings, path landmarks, escapes."""

from __future__ import annotations

import numpy as np
import pytest

from minimsam import optim, tutorial
from minimsam.data import landscapes


def test_swing_extremes_are_the_signed_peaks_between_sign_changes():
    offset = np.array([0.05, 0.02, -0.01, -0.03, -0.02, 0.04, 0.1, 0.06])
    np.testing.assert_array_equal(tutorial.swing_extremes(offset), [0.05, -0.03, 0.1])


def test_swing_events_follow_a_made_up_path_to_the_flat_well():
    # out at step 2, near the saddle to step 4, back past 0 at 6, far at 7, across at 9,
    # within 0.3 of the flat minimum (offset 2) from step 11
    offset = np.array([0.05, -0.1, 0.4, 0.5, 0.35, 0.1, -0.2, -0.7, -0.3, 0.2, 1.0, 1.8, 2.1])
    events = tutorial.swing_events(offset, flat_offset=2.0)
    assert events["out"] == (2, 0.4)
    assert events["hover"] == (2, 4, 0.35, 0.5)
    assert events["back"] == (6, -0.2)
    assert events["far"] == (7, -0.7)
    assert events["cross"] == (9, 0.2)
    assert events["flat"][0] == 11
    assert events["flat"][1] == pytest.approx(0.2)


def test_trajectories_start_at_the_starts_and_end_at_final_points():
    starts = np.array([[-0.9, 0.1], [0.5, -0.3]])

    def make():
        return optim.SAM(lr=0.05, momentum=0.9, rho=0.3)

    grad_fn = tutorial.sharp_flat_grad_fn()
    paths = tutorial.trajectories(make, starts, 12, grad_fn)
    assert paths.shape == (13, 2, 2)
    np.testing.assert_array_equal(paths[0], starts)
    np.testing.assert_allclose(paths[-1], tutorial.final_points(make, starts, 12, grad_fn))


def test_escape_row_measures_steps_distance_and_leavers():
    surface = landscapes.get("sharp-flat")
    sharp, flat = (np.array(m) for m in surface.minima)
    # one run hops 0.1 then stays; the other jumps to the flat minimum at step 2
    paths = np.array([[sharp, sharp], [sharp + [0.1, 0], sharp + [0.1, 0]], [sharp, flat]])
    step, farthest, left = tutorial.escape_row(paths, sharp, surface, window=1)
    assert (step, farthest) == pytest.approx((0.1, 0.1))
    assert left == 1
    assert tutorial.escape_row(paths, sharp, surface, window=2)[1] == pytest.approx(
        np.linalg.norm(flat - sharp)
    )


def test_quadratic_dropped_share_vanishes_in_a_round_well_only():
    offset = np.array([0.03, 0.04])
    assert tutorial.quadratic_dropped_share(24.5 * np.eye(2), offset, 0.3) < 1e-12
    elongated = np.diag([24.5, 2.0])
    share = tutorial.quadratic_dropped_share(elongated, offset, 0.3)

    def sam_loss(w):  # L(w + rho g / |g|) for L = w^T H w / 2
        g = elongated @ w
        end = w + 0.3 * g / np.linalg.norm(g)
        return 0.5 * end @ elongated @ end

    h = 1e-7
    exact = np.array([(sam_loss(offset + h * e) - sam_loss(offset - h * e)) / (2 * h)
                      for e in np.eye(2)])  # fmt: skip
    g = elongated @ offset
    used = g + 0.3 * elongated @ (g / np.linalg.norm(g))  # g(w~)
    expected = np.linalg.norm(exact - used) / np.linalg.norm(used)
    assert share == pytest.approx(expected, rel=1e-5)
    assert share > 0.1
