"""Tests for experiments.figures: the committed figures are what the code draws, and they
are legible (labelled axes, palette colours, one style per optimizer, legends off the data).

Every figure in ``figures/`` is redrawn (from the committed data for the three figures
whose computation takes minutes) and compared with the committed file: identical bytes
where the platform renders identically, otherwise decoded pixels within a small
tolerance. A cheap part of each committed data file is recomputed and compared.
"""

import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("PIL.Image")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import to_hex, to_rgba  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from experiments import figures  # noqa: E402
from experiments.figures import base, mnist1d, sharp_flat  # noqa: E402
from minimsam import viz  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PALETTE = {c.lower() for c in viz.OKABE_ITO.values()}
OPTIMIZERS = ("SGD", "NAG", "SAM", "MSAM")
NEEDS_MNIST1D = {"mnist1d_comparison"}  # drawn from data, but the test recomputes with it


def drawn(name):
    """The matplotlib Figure of a figure, drawn as the command draws it, and rendered."""
    spec = figures.FIGURES[name]
    with base.figure_style():
        fig = spec.draw(spec.load())
        FigureCanvasAgg(fig)
        fig.canvas.draw()
    return fig


@pytest.fixture(scope="module", params=list(figures.FIGURES))
def figure(request):
    return request.param, drawn(request.param)


# ----------------------------------------------------------------------------- up to date


def test_every_committed_figure_has_a_command():
    committed = {p.name for p in figures.FIGURES_DIR.iterdir() if p.suffix in (".png", ".gif")}
    assert committed == {spec.filename for spec in figures.FIGURES.values()}


@pytest.mark.parametrize("name", list(figures.FIGURES))
def test_committed_figure_matches_a_fresh_drawing(name, tmp_path):
    (path,) = figures.figures(tmp_path, only=[name])
    problem = base.difference(path, figures.FIGURES_DIR / path.name)
    assert problem is None, f"{problem}; regenerate: python -m experiments.figures --out figures"


def test_rendering_is_deterministic(tmp_path):
    (a,) = figures.figures(tmp_path / "a", only=["msam_steps"])
    (b,) = figures.figures(tmp_path / "b", only=["msam_steps"])
    assert a.read_bytes() == b.read_bytes()
    assert b"Software" not in a.read_bytes()  # no version or date in the file


def test_difference_notices_a_changed_figure(tmp_path):
    (path,) = figures.figures(tmp_path, only=["nag_steps"])
    other = figures.FIGURES_DIR / "sgd_steps.png"
    assert base.difference(path, figures.FIGURES_DIR / "nag_steps.png") is None
    assert "differs" in base.difference(path, other) or "size" in base.difference(path, other)
    assert "missing" in base.difference(path, tmp_path / "nope.png")


# ----------------------------------------------------------------------------- stored data


def load(name):
    return figures.FIGURES[name].load()


def test_basins_data_is_what_the_code_computes():
    data = load("sharp_flat_basins")
    assert data["setting"] == sharp_flat.BASINS  # made with today's setting
    fresh = sharp_flat.basins_data(first=2)  # the first 2 of 60 starts, every run
    assert set(fresh["ends_flat"]) == set(data["ends_flat"])
    for key, ends in fresh["ends_flat"].items():
        assert ends == data["ends_flat"][key][:2], key


def test_comparison_data_is_what_the_code_computes():
    # Only what another machine reproduces is compared: the first epoch, to
    # mnist1d.REPRODUCIBLE_RTOL (its comment gives the spread measured across BLAS kernels).
    # Later epochs of float32 training differ with the CPU's BLAS kernel, by up to 10% of
    # the loss after epoch 2 for MSAM at rho = 2.
    pytest.importorskip("mnist1d")
    data = load("mnist1d_comparison")
    assert data["setting"] == json.loads(json.dumps(mnist1d.comparison_setting()))
    epochs, first = data["setting"]["epochs"], mnist1d.REPRODUCIBLE_EPOCHS
    for name, rho in (("sgd", None), ("nag", None), ("sam", 0.2), ("msam", 2.0)):
        hyper = {} if rho is None else {"rho": rho}
        fresh = mnist1d.fit_history(name, epochs, seed=0, stop_after=first, **hyper)
        stored = data["runs"][mnist1d.run_key(name, 0, rho)]
        assert len(stored) == epochs and len(fresh) == first
        assert mnist1d.history_prefix_matches(stored, fresh), (name, fresh, stored[:first])


def test_comparison_check_notices_a_changed_run():
    # the tolerance still tells a different optimizer apart: MSAM at rho = 0.5 is not
    # the stored MSAM at rho = 2, nor SGD the stored NAG, after one epoch
    pytest.importorskip("mnist1d")
    data = load("mnist1d_comparison")
    runs, epochs = data["runs"], data["setting"]["epochs"]
    msam = mnist1d.fit_history("msam", epochs, seed=0, stop_after=1, rho=0.5)
    assert not mnist1d.history_prefix_matches(runs[mnist1d.run_key("msam", 0, 2.0)], msam)
    sgd = mnist1d.fit_history("sgd", epochs, seed=0, stop_after=1)
    assert not mnist1d.history_prefix_matches(runs[mnist1d.run_key("nag", 0)], sgd)


def test_comparison_data_names_the_machine_that_made_it():
    made_on = load("mnist1d_comparison")["made_on"]
    assert made_on["cpu"] and made_on["blas"]["architecture"] and made_on["blas"]["num_threads"]


def test_cosine_figure_is_drawn_from_the_experiment_results():
    spec = figures.FIGURES["momentum_gradient_cosine"]
    assert spec.data_file == ROOT / "experiments" / "results" / "cosine.json"


FIGURES_PAGE = ROOT / "docs" / "figures.md"


def _caption_before(image: str) -> str:
    """The paragraph just above ``![image]`` on the figures page."""
    return FIGURES_PAGE.read_text().split(f"![{image}]")[0].rsplit("\n\n", 2)[-2]


def test_cosine_caption_agrees_with_the_data():
    # the caption above momentum_gradient_cosine.png on docs/figures.md states these
    caption = _caption_before("momentum-gradient cosine")
    s = mnist1d.cosine_summary(load("momentum_gradient_cosine"))
    assert "slightly negative" in caption and -0.1 < s["mean"] < 0  # "slightly negative"
    assert "most steps" in caption and s["frac_negative"] > 0.5
    training = dict(zip(range(1, s["epochs"] + 1), s["per_epoch"]))
    frozen = dict(zip(s["frozen_epochs"], s["frozen_without"]))
    independent = dict(zip(s["frozen_epochs"], s["frozen_with"]))
    assert "epochs 1 and 10" in caption
    for e in (1, 10):  # "the frozen cosine is clearly positive while training's is negative"
        assert frozen[e] > 0.1 and training[e] < 0
    last = s["epochs"]  # late: frozen (no replacement) negative and about training's
    assert frozen[last] < 0 < independent[last] and abs(frozen[last] - training[last]) < 0.02
    assert "does not by itself show" in caption  # no claim about the loss along -v


def test_comparison_caption_agrees_with_the_data():
    # "the four end within about 0.01 of each other (means A to B), less than the range
    # of the seeds of NAG, SAM or MSAM alone (C to D), so this figure shows no difference"
    caption = _caption_before("MNIST-1D comparison")
    runs = mnist1d._default_runs(load("mnist1d_comparison"))
    finals = {label: [h[-1]["test_acc"] for h in hs] for label, hs in runs.items()}
    means = {label: sum(f) / len(f) for label, f in finals.items()}
    ranges = {label: max(f) - min(f) for label, f in finals.items()}
    low, high = min(means.values()), max(means.values())
    assert f"means {low:.3f} to {high:.3f}" in caption
    others = [ranges[label] for label in ("NAG", "SAM", "MSAM")]
    assert f"({min(others):.3f} to {max(others):.3f})" in caption
    assert high - low < min(others) and "shows no difference" in caption
    assert round(high - low, 2) == 0.01  # "within about 0.01"


def test_figures_page_names_the_machine_of_the_stored_data():
    made_on = load("mnist1d_comparison")["made_on"]
    page = FIGURES_PAGE.read_text()
    assert made_on["blas"]["architecture"] in page and "one thread" in page
    assert made_on["blas"]["num_threads"] == 1


# ----------------------------------------------------------------------------- legibility


def _data_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_every_axis_is_labelled(figure):
    name, fig = figure
    for ax in _data_axes(fig):
        assert ax.get_xlabel().strip(), f"{name}: an axes has no x label"
        assert ax.get_ylabel().strip(), f"{name}: an axes has no y label"


def _neutral(rgba):
    r, g, b, _ = rgba
    return abs(r - g) < 1e-6 and abs(g - b) < 1e-6  # black, white, greys


def test_colours_come_from_the_palette(figure):
    name, fig = figure
    for ax in _data_axes(fig):
        colours = [line.get_color() for line in ax.lines]
        colours += [p.get_facecolor() for p in ax.patches if p.get_fill()]
        colours += [p.get_edgecolor() for p in ax.patches]
        for colour in colours:
            rgba = to_rgba(colour)
            if rgba[3] == 0 or _neutral(rgba):
                continue
            assert to_hex(rgba) in PALETTE, f"{name}: colour {to_hex(rgba)} is not Okabe-Ito"


def _legends(fig):
    return [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)


def test_legends_stay_off_the_data(figure):
    name, fig = figure
    for legend in _legends(fig):
        box = legend.get_window_extent()
        for ax in _data_axes(fig):
            assert not box.overlaps(ax.get_window_extent()), f"{name}: a legend covers an axes"


def test_each_optimizer_keeps_its_own_style(figure):
    # every line named after an optimizer (in a legend or as the line's label) carries
    # that optimizer's colour, and two optimizers never share colour and marker
    name, fig = figure
    seen = {}
    handles = [h for legend in _legends(fig) for h in legend.legend_handles]
    lines = [ln for ax in fig.axes for ln in ax.lines] + handles
    for line in lines:
        if not isinstance(line, Line2D):
            continue
        label = line.get_label().split(" ")[0].rstrip(":,")
        if label not in OPTIMIZERS:
            continue
        colour = to_hex(line.get_color())
        assert colour == viz.OPTIMIZER_STYLE[label]["color"].lower(), (name, label)
        seen.setdefault(label, set()).add((colour, line.get_marker(), line.get_linestyle()))
    cues = {label: {(c, m) for c, m, _ in styles} for label, styles in seen.items()}
    for a in cues:
        for b in cues:
            assert a == b or not cues[a] & cues[b], f"{name}: {a} and {b} look alike"


def test_step_panels_name_their_points():
    fig = drawn("msam_steps")
    texts = {t.get_text() for t in fig.axes[1].texts}
    assert {"$w_{7}$", "$\\tilde w_{7}$", "$w_{8}$"} <= texts
    legend = " ".join(t.get_text() for t in fig.axes[1].get_legend().get_texts())
    assert "\\tilde w_t" in legend  # the legend uses the symbol the points carry


def test_comparison_lines_stay_distinguishable():
    # SGD and NAG end close together: different line styles and staggered markers
    fig = drawn("mnist1d_comparison")
    lines = [ln for ln in fig.axes[0].lines if ln.get_label() in OPTIMIZERS]
    assert len({ln.get_linestyle() for ln in lines}) == 4
    assert len({ln.get_markevery()[0] for ln in lines}) == 4


# ----------------------------------------------------------------------------- command


def test_default_output_is_not_the_committed_folder(tmp_path, monkeypatch):
    before = {p.name: p.stat().st_mtime_ns for p in figures.FIGURES_DIR.iterdir()}
    monkeypatch.chdir(tmp_path)
    assert figures.main(["--only", "nag_steps"]) == 0
    assert [p.name for p in (tmp_path / "minimsam-figures").iterdir()] == ["nag_steps.png"]
    after = {p.name: p.stat().st_mtime_ns for p in figures.FIGURES_DIR.iterdir()}
    assert after == before


def test_check_mode_reports_stale_figures(tmp_path, monkeypatch, capsys):
    assert figures.main(["--check", "--only", "sgd_steps"]) == 0
    (tmp_path / "sgd_steps.png").write_bytes((figures.FIGURES_DIR / "nag_steps.png").read_bytes())
    monkeypatch.setattr(figures, "FIGURES_DIR", tmp_path)
    assert figures.main(["--check", "--only", "sgd_steps"]) == 1
    assert "stale: sgd_steps.png" in capsys.readouterr().err


def test_list_and_unknown_names(tmp_path, capsys):
    assert figures.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in figures.FIGURES)
    with pytest.raises(ValueError, match="unknown figure"):
        figures.figures(tmp_path, only=["nope"])
    with pytest.raises(SystemExit):
        figures.main(["--only", "nope"])


def test_recompute_writes_the_data_beside_the_figures(tmp_path, monkeypatch):
    small = {"num_starts": 2, "num_steps": 3, "rhos": [0.3], "noises": [0.0]}
    spec = figures.FIGURES["sharp_flat_basins"]
    monkeypatch.setitem(
        figures.FIGURES,
        "sharp_flat_basins",
        figures.FigureSpec(
            spec.filename, spec.draw, "", lambda: sharp_flat.basins_data(small), spec.data_file
        ),
    )
    (path,) = figures.figures(tmp_path, only=["sharp_flat_basins"], recompute=True)
    data = json.loads((tmp_path / "data" / "sharp_flat_basins.json").read_text())
    assert data["setting"] == small and path.is_file()
    assert all(len(ends) == 2 for ends in data["ends_flat"].values())
