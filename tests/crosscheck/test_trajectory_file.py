"""Trajectory files: any framework's runs in, the same report out, without torch or jax."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minimsam import crosscheck
from minimsam.crosscheck import mutants
from minimsam.crosscheck.compare import check_case
from minimsam.crosscheck.reference import run_reference

EXAMPLE = Path(__file__).parents[2] / "examples" / "numpy_msam_trajectory.py"


def test_reference_runs_written_as_a_trajectory_file_pass(cases, golden_dir, tmp_path):
    msam = [c for c in cases if c.optimizer == "msam"]
    path = tmp_path / "ref.npz"
    crosscheck.write_trajectories(path, {c.name: c.reference for c in msam})
    report = crosscheck.check_trajectory_file(golden_dir, path)
    assert report.optimizer == "msam" and report.adapter == "trajectory file"
    assert report.passed and len(report.results) == len(msam)


def test_a_file_gives_the_same_verdicts_as_checking_the_trajectories_directly(
    cases, golden_dir, tmp_path
):
    sam = [c for c in cases if c.optimizer == "sam"]
    runs = {
        c.name: run_reference(c, {m.name: m for m in mutants.mutants_for("sam")}["per-tensor"].cls)
        for c in sam
    }
    path = tmp_path / "per_tensor.npz"
    crosscheck.write_trajectories(path, runs, errors={sam[0].name: "RuntimeError: boom"})
    report = crosscheck.check_trajectory_file(golden_dir, path)
    for case, result in zip(sam, report.results):
        error = "RuntimeError: boom" if case is sam[0] else None
        direct = check_case(case, runs[case.name], error=error)
        assert (result.verdict, result.first_divergence) == (
            direct.verdict,
            direct.first_divergence,
        )
        assert result.diagnoses == direct.diagnoses and result.error == direct.error
    assert any(d.pitfall == "per_tensor_norm" for r in report.results for d in r.diagnoses)


def test_minimal_keys_written_with_np_savez_are_enough(cases, golden_dir, tmp_path):
    case = next(c for c in cases if c.name == "nag-surface-zero-grad")
    ref = case.reference
    arrays = {
        f"{case.name}/params/w": ref.params["w"],
        f"{case.name}/eval_points/w": ref.eval_points["w"],
        f"{case.name}/eval_losses": ref.eval_losses[:, 0],  # one evaluation: (T,) is fine
    }
    np.savez(tmp_path / "mine.npz", **arrays)
    assert crosscheck.check_trajectory_file(
        golden_dir, tmp_path / "mine.npz", names=[case.name]
    ).passed
    partial = crosscheck.check_trajectory_file(golden_dir, tmp_path / "mine.npz")
    missing = ["nag-mlp-wd-restore", "nag-mlp-wd-no-momentum"]
    assert not partial.passed and partial.missing == missing
    assert f"1 of 3 cases checked; missing: {', '.join(missing)}" in partial.format()
    del arrays[f"{case.name}/eval_points/w"]
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(ValueError, match="lacks eval_points/w"):
        crosscheck.check_trajectory_file(golden_dir, tmp_path / "short.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="holds none of the cases"):
        crosscheck.check_trajectory_file(golden_dir, tmp_path / "other.npz")


def test_a_numpy_msam_recorded_without_minimsam_is_checked_by_the_command(golden_dir, tmp_path):
    """The example records in plain NumPy; ``crosscheck compare`` runs in an interpreter
    where torch and jax cannot be imported."""
    blocked = "import sys; sys.modules['torch'] = None; sys.modules['jax'] = None; "
    outputs = {}
    for label, flags in (("good", []), ("no-eps", ["--no-eps"])):
        path = tmp_path / f"{label}.npz"
        record = f"import runpy, sys; sys.modules['minimsam'] = None; sys.argv = {['x', str(golden_dir), str(path), *flags]!r}; runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')"  # noqa: E501
        subprocess.run([sys.executable, "-c", record], check=True, capture_output=True)
        argv = ["compare", "--cases", str(golden_dir), "--trajectory", str(path), "--case",
                "msam-surface-zero-grad-restore"]  # fmt: skip
        check = f"{blocked}from minimsam.crosscheck.cli import main; sys.exit(main({argv!r}))"
        outputs[label] = subprocess.run(
            [sys.executable, "-c", check], capture_output=True, text=True
        )
    assert outputs["good"].returncode == 0, outputs["good"].stderr
    assert "1 of 1 cases pass." in outputs["good"].stdout
    assert outputs["no-eps"].returncode == 1
    assert "diagnosis: missing_epsilon" in outputs["no-eps"].stdout


def test_export_with_mutants_ships_their_trajectories_as_trajectory_files(tmp_path):
    manifest_path = crosscheck.export(tmp_path, optimizers=["nag"], with_mutants=True)
    manifest = json.loads(manifest_path.read_text())
    shipped = {m["name"]: m for m in manifest["mutants"]}
    assert set(shipped) == {m.name for m in mutants.mutants_for("nag", kind=None)}
    loaded = crosscheck.load_cases(tmp_path)
    for case in loaded:
        for mutant in mutants.mutants_for("nag"):
            if mutant.name in case.mutants:
                fresh = run_reference(case, mutant.cls, mutant.restore)
                for k in fresh.params:
                    np.testing.assert_array_equal(
                        case.mutants[mutant.name].params[k], fresh.params[k]
                    )
    entry = shipped["decay-at-w"]
    report = crosscheck.check_trajectory_file(tmp_path, tmp_path / entry["file"])
    failed = [r for r in report.results if not r.passed]
    assert failed and all(
        d.pitfall == "weight_decay_placement" for r in failed for d in r.diagnoses
    )


def test_the_example_module_replays_msam_exactly(golden_dir, tmp_path):
    example = runpy.run_path(str(EXAMPLE))
    names = example["record"](str(golden_dir), str(tmp_path / "t.npz"))
    assert names == ["msam-surface-zero-grad-restore"]
    report = crosscheck.check_trajectory_file(golden_dir, tmp_path / "t.npz", names=names)
    assert report.passed and report.results[0].max_diff < 1e-13


def test_the_readme_example_records_a_trajectory_that_passes(tmp_path, monkeypatch):
    """The NumPy snippet of docs/crosscheck.md ("Any framework"), run as printed."""
    readme = (Path(__file__).parents[2] / "docs" / "crosscheck.md").read_text()
    start = readme.index("**Any framework.**")
    snippet = readme[readme.index("```python\n", start) + 10 : readme.index("```\n", start + 30)]
    crosscheck.export(tmp_path / "cases", optimizers=["msam"])
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "docs/crosscheck.md", "exec"), {})
    report = crosscheck.check_trajectory_file(
        tmp_path / "cases", tmp_path / "mine.npz", names=["msam-surface-zero-grad-restore"]
    )
    assert report.passed and report.results[0].max_diff < 1e-13
