"""Tests for minimsam.figures: the committed toy figures are what the code draws today.

The cheap (toy-surface) figures are regenerated into a temporary directory and compared
with the PNGs in ``figures/``: identical bytes where the platform renders identically,
otherwise decoded pixels within a small tolerance (another matplotlib or FreeType may
anti-alias text slightly differently). The MNIST-1D figures are drawn on a tiny budget
and checked for being valid, non-blank images.
"""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from minimsam import figures  # noqa: E402

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
CHEAP_PNG = [n for n, spec in figures.FIGURES.items() if spec.cheap and n != "msam_animation"]
MEAN_PIXEL_TOLERANCE = 1.0  # mean |difference| per channel, out of 255
STRONG_DIFFERENCE, MAX_STRONG_FRACTION = 100, 0.005  # at most 0.5% of pixels changed a lot


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=float)


def assert_same_image(new: Path, committed: Path) -> None:
    if new.read_bytes() == committed.read_bytes():
        return
    a, b = pixels(new), pixels(committed)
    assert a.shape == b.shape, f"{committed.name}: size {a.shape} != committed {b.shape}"
    diff = np.abs(a - b)
    strong = np.mean(diff.max(axis=-1) > STRONG_DIFFERENCE)
    assert diff.mean() < MEAN_PIXEL_TOLERANCE and strong < MAX_STRONG_FRACTION, (
        f"{committed.name} differs from a fresh rendering (mean pixel difference "
        f"{diff.mean():.2f}, {100 * strong:.2f}% of pixels changed strongly); "
        "regenerate with `python -m minimsam.figures`"
    )


def assert_valid_png(path: Path, min_size: int = 100) -> None:
    assert path.read_bytes().startswith(b"\x89PNG")
    img = pixels(path)
    assert img.shape[0] >= min_size and img.shape[1] >= min_size
    assert img[..., :3].std() > 10  # not blank


def test_cheap_figures_are_listed():
    assert {"sgd_steps", "nag_steps", "sam_steps", "msam_steps"} <= set(CHEAP_PNG)
    assert "sharp_flat_trajectories" in CHEAP_PNG


@pytest.mark.parametrize("name", CHEAP_PNG)
def test_committed_toy_figure_matches_a_fresh_rendering(name, tmp_path):
    (path,) = figures.figures(tmp_path, only=[name])
    committed = COMMITTED / path.name
    assert committed.is_file(), f"{committed} is missing; run `python -m minimsam.figures`"
    assert_same_image(path, committed)


def test_rendering_is_deterministic(tmp_path):
    (a,) = figures.figures(tmp_path / "a", only=["msam_steps"])
    (b,) = figures.figures(tmp_path / "b", only=["msam_steps"])
    assert a.read_bytes() == b.read_bytes()
    assert b"Software" not in a.read_bytes()  # no version or date in the file


def test_animation_matches_the_committed_gif(tmp_path):
    (path,) = figures.figures(tmp_path, only=["msam_animation"])
    committed = COMMITTED / path.name
    with Image.open(path) as new, Image.open(committed) as old:
        assert new.n_frames == old.n_frames == 24
        for k in (0, new.n_frames - 1):
            new.seek(k)
            old.seek(k)
            a = np.asarray(new.convert("RGB"), float)
            b = np.asarray(old.convert("RGB"), float)
            assert a.shape == b.shape and np.abs(a - b).mean() < MEAN_PIXEL_TOLERANCE


def test_sharp_flat_basins_small_budget(tmp_path):
    with figures.figure_style():
        path = figures.sharp_flat_basins(tmp_path, num_starts=3, num_steps=5, rhos=(0.3,))
    assert path.name == "sharp_flat_basins.png"
    assert_valid_png(path)


def test_flat_fraction_counts_the_basin():
    # starting on each minimum with exact gradients and lr 0 stays there
    from minimsam import optim
    from minimsam.data import landscapes

    minima = np.array(landscapes.get("sharp-flat").minima)
    frac = figures.flat_fraction(lambda: optim.SGD(lr=0.0), minima, num_steps=2, noise=0.0)
    assert frac == 0.5


def test_mnist1d_figures_small_budget(tmp_path):
    pytest.importorskip("mnist1d")
    with figures.figure_style():
        cos = figures.momentum_gradient_cosine(tmp_path, epochs=1)
        cmp = figures.mnist1d_comparison(tmp_path, epochs=1, rhos=(0.2,), seeds=(0,))
    assert_valid_png(cos)
    assert_valid_png(cmp)


def test_momentum_gradient_cosines_measure_what_they_say():
    pytest.importorskip("mnist1d")
    before, after = figures.momentum_gradient_cosines(epochs=1, lr=0.05)
    assert before.shape == after.shape == (32,)
    assert before[0] == 0.0  # v_0 = 0
    assert np.all(np.abs(before) <= 1) and np.all(np.abs(after) <= 1)
    # after the update the buffer contains the gradient: positively aligned on average
    assert after.mean() > 0.2


def test_cli_list_and_only(tmp_path, capsys):
    assert figures.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in figures.FIGURES)
    assert figures.main(["--only", "nag_steps", "--out", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["nag_steps.png"]


def test_unknown_figure_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown figure"):
        figures.figures(tmp_path, only=["nope"])
    with pytest.raises(SystemExit):
        figures.main(["--only", "nope"])
