"""The experiments' --quick smoke runs, their output files, and the report generator."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("mnist1d")

from experiments import ablation, common, compare, cosine, report, rho_sweep, sharpness, surface  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODULES = {
    "cosine": cosine,
    "rho_sweep": rho_sweep,
    "compare": compare,
    "sharpness": sharpness,
    "surface": surface,
    "ablation": ablation,
}


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """Every experiment's --quick run, written once into one temporary folder.

    Each runs as its own command, ``python -m experiments.<name> --quick --out DIR``, as a
    user would run it: a fresh process also gets the single-threaded BLAS that the
    ``experiments`` package sets before NumPy is imported (in this process NumPy is
    already loaded, and two BLAS threads on a busy 2-core machine are several times
    slower).
    """
    out = tmp_path_factory.mktemp("results")
    for name in MODULES:
        command = [sys.executable, "-m", f"experiments.{name}", "--quick", "--out", str(out)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    return out


def load_json(path):
    return json.loads(path.read_text(), parse_constant=_reject_constant)


@pytest.mark.parametrize("name", list(MODULES))
def test_quick_run_writes_valid_json_png_and_markdown(quick_results, name):
    payload = load_json(quick_results / f"{name}.json")
    assert payload["experiment"] == name
    assert payload["quick"] is True
    assert payload["run_time_s"] >= 0
    assert (quick_results / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (quick_results / f"{name}.md").read_text()
    assert md.startswith("## ")
    assert "\n**Result.** " in md
    assert "\n|---|" in md
    assert f"![{name}]({name}.png)" in md
    assert f"for `python -m experiments.{name} --quick`" in md


@pytest.mark.parametrize("name", list(MODULES))
def test_render_from_json_reproduces_the_markdown(quick_results, tmp_path, name):
    # the markdown is written from the in-memory payload; --render redraws it from the JSON
    (tmp_path / f"{name}.json").write_text((quick_results / f"{name}.json").read_text())
    assert MODULES[name].main(["--render", "--out", str(tmp_path)]) == 0
    assert (tmp_path / f"{name}.md").read_text() == (quick_results / f"{name}.md").read_text()
    assert (tmp_path / f"{name}.png").stat().st_size > 0


def test_cosine_values_are_cosines(quick_results):
    runs = load_json(quick_results / "cosine.json")["runs"]
    for seed_runs in runs.values():
        for r in seed_runs:
            for q in ("before", "after", "heldout_fixed", "heldout_random"):
                assert -1.0 <= r[q]["mean"] <= 1.0
                assert 0.0 <= r[q]["frac_negative"] <= 1.0
            assert all(-1.0 <= c <= 1.0 for c in r["before"]["per_step"])
            assert set(r["frozen"]) == {"without", "with"}


def test_rho_sweep_sgd_baseline_is_the_rho_zero_run(quick_results):
    payload = load_json(quick_results / "rho_sweep.json")
    assert payload["sgd"] == payload["msam"]["0"]
    assert all(r["train_acc_perturbed"] == r["train_acc"] for r in payload["sgd"])


def test_compare_counts_two_gradient_evaluations_for_sam_only(quick_results):
    settings = load_json(quick_results / "compare.json")["settings"]
    assert "mnist1d" in settings
    for result in settings.values():
        if "skipped" in result:
            continue
        per_step = {k: {r["grad_evals_per_step"] for r in rs} for k, rs in result["runs"].items()}
        assert per_step == {"sgd": {1.0}, "nag": {1.0}, "sam": {2.0}, "msam": {1.0}}
        assert result["selection"]["lr"] in result["config"]["lrs"]


def test_sharpness_curves_vanish_at_zero_and_eigenvalues_descend(quick_results):
    payload = load_json(quick_results / "sharpness.json")
    ts = np.array(payload["setting"]["ts_unit"])
    zero = int(np.argmin(np.abs(ts)))
    assert ts[zero] == 0.0
    assert {s["label_smoothing"] for s in payload["settings"].values()} == {0.0, 0.1}
    for result in payload["settings"].values():
        for r in (r for runs in result["runs"].values() for r in runs):
            assert abs(r["along_gradient"][zero]) < 1e-12
            assert abs(r["along_momentum"][zero]) < 1e-12
            assert r["eigenvalues"] == sorted(r["eigenvalues"], reverse=True)
            assert r["sam_sharpness"] > 0  # the ascent step raises the loss


def test_ablation_msam_radius_is_rho(quick_results):
    variants = load_json(quick_results / "ablation.json")["variants"]
    for rho, runs in variants["msam-signed"].items():
        for r in runs:
            assert r["mean_radius"] == pytest.approx(float(rho), rel=1e-6)


def test_quick_without_out_does_not_write_into_the_results_folder():
    args = common.parse_args("cosine", "", ["--quick"])
    assert args.out.resolve() != common.RESULTS.resolve()
    assert common.parse_args("cosine", "", []).out == common.RESULTS


def test_validation_split_holds_out_part_of_the_training_split():
    ds = common.shrink(common.mnist1d(), 200, 10)
    val = common.validation_split(ds, fraction=0.25, seed=0)
    assert len(val.y_train) == 150 and len(val.y_test) == 50
    rows = {tuple(x) for x in np.concatenate([val.x_train, val.x_test]).round(6)}
    assert rows == {tuple(x) for x in ds.x_train.round(6)}


def test_diff_se_is_welch():
    d, se = common.diff_se([1.0, 3.0], [0.0, 0.0, 3.0])
    # means 2 and 1; variances 2 and 3 (ddof = 1): se = sqrt(2/2 + 3/3) = sqrt(2)
    assert d == pytest.approx(1.0) and se == pytest.approx(math.sqrt(2.0))


# ----------------------------------------------------------------------------- report


def write_results(folder):
    folder.mkdir()
    (folder / "zeta.md").write_text("## Zeta title\n\n**Result.** Zeta result.\n\nRun time: 3 s.\n")
    (folder / "cosine.md").write_text(
        "## Cosine title\n\n**Result.** Cosine result.\n\n| a |\n|---|\n| 1 |\n\n"
        "![cosine](cosine.png)\n\nRun time: 12 s for `python -m experiments.cosine`.\n"
    )


README = "# Project\n\nintro\n\n" + report.START + "\nold text\n" + report.END + "\n\n## After\n"


def test_report_replaces_only_the_marked_section(tmp_path):
    write_results(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text(README)
    output = tmp_path / "experiments" / "RESULTS.md"
    args = ["--results", str(tmp_path / "results"), "--output", str(output)]
    assert report.main([*args, "--page", str(readme)]) == 0
    text = readme.read_text()
    head, rest = text.split(report.START)
    body, tail = rest.split(report.END)
    assert head == README.split(report.START)[0]
    assert tail == README.split(report.END)[1]
    assert "old text" not in body
    assert body.index("Cosine title") < body.index("Zeta title")  # ORDER first, then the rest
    assert "**Result.** Cosine result." in body and "12 s" in body
    assert "[figure](results/cosine.png)" in body
    results = output.read_text()
    assert "![cosine](../results/cosine.png)" in results
    assert "| a |" in results and "**Result.** Zeta result." in results
    report.main([*args, "--page", str(readme)])
    assert readme.read_text() == text  # idempotent


def test_report_without_markers_leaves_the_readme_alone(tmp_path):
    write_results(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text("# Project\n\nno markers here\n")
    output = tmp_path / "RESULTS.md"
    report.main(["--results", str(tmp_path / "results"), "--output", str(output),
                 "--page", str(readme)])  # fmt: skip
    assert readme.read_text() == "# Project\n\nno markers here\n"
    assert "Cosine title" in output.read_text()


def test_report_on_a_copy_of_the_real_results_page(tmp_path, quick_results):
    original = report.PAGE.read_text()
    if report.START not in original:
        pytest.fail("docs/results.md lacks the results markers")
    readme = tmp_path / "README.md"
    readme.write_text(original)
    report.main(["--results", str(quick_results), "--output", str(tmp_path / "RESULTS.md"),
                 "--page", str(readme)])  # fmt: skip
    text = readme.read_text()
    assert text.split(report.START)[0] == original.split(report.START)[0]
    assert text.split(report.END)[1] == original.split(report.END)[1]
    for name in MODULES:
        assert f"python -m experiments.{name}" in text


def test_surface_grid_is_centred_on_the_solution(quick_results):
    payload = load_json(quick_results / "surface.json")
    for run in payload["runs"].values():
        grid = run["grid"]
        n = len(grid)
        assert run["alphas"][n // 2] == 0.0 and run["betas"][n // 2] == 0.0
        assert run["center"] == grid[n // 2][n // 2]
        assert min(min(row) for row in grid) > 0.0  # cross-entropy is positive
