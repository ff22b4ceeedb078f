"""Export and load: deterministic bytes, exact round trips, checks, a reader without minimsam."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from minimsam import crosscheck
from minimsam.crosscheck.fileformat import write_npz

HERE = Path(__file__).parent


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_export_twice_gives_the_same_bytes(tmp_path):
    first = crosscheck.export(tmp_path / "a", optimizers=["msam", "sgd"]).parent
    second = crosscheck.export(tmp_path / "b", optimizers=["msam", "sgd"]).parent
    files = _files(first)
    assert len(files) == 1 + sum(s.optimizer in ("msam", "sgd") for s in crosscheck.SETTINGS)
    assert files == _files(second)


def test_npz_entries_carry_a_fixed_date_and_load_with_numpy(tmp_path):
    arrays = {"b/x": np.arange(3.0), "a": np.eye(2, dtype=np.int64)}
    digest = write_npz(tmp_path / "f.npz", arrays)
    with zipfile.ZipFile(tmp_path / "f.npz") as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["a.npy", "b/x.npy"]  # sorted keys
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    with np.load(tmp_path / "f.npz") as data:
        np.testing.assert_array_equal(data["b/x"], arrays["b/x"])
        assert data["a"].dtype == np.int64
    assert digest == write_npz(tmp_path / "g.npz", dict(reversed(arrays.items())))


def test_load_gives_back_the_cases_exactly(cases, golden_dir):
    loaded = crosscheck.load_cases(golden_dir)
    assert [c.name for c in loaded] == [c.name for c in cases]
    for want, got in zip(cases, loaded):
        for field in (
            "optimizer",
            "model",
            "hyperparameters",
            "lr",
            "rho",
            "restore_before_step",
            "pitfalls",
        ):
            assert getattr(got, field) == getattr(want, field), (want.name, field)
        for k in want.init:
            np.testing.assert_array_equal(got.init[k], want.init[k])
            np.testing.assert_array_equal(got.reference.params[k], want.reference.params[k])
            np.testing.assert_array_equal(
                got.reference.eval_points[k], want.reference.eval_points[k]
            )
        for k in want.batches:
            np.testing.assert_array_equal(got.batches[k], want.batches[k])
        np.testing.assert_array_equal(got.reference.loss, want.reference.loss)
        np.testing.assert_array_equal(got.reference.grad_evals, want.reference.grad_evals)


def test_load_filters_by_optimizer_and_name(golden_dir):
    msam = crosscheck.load_cases(golden_dir, optimizer="msam")
    assert msam and {c.optimizer for c in msam} == {"msam"}
    one = crosscheck.load_cases(golden_dir, names=[msam[0].name])
    assert [c.name for c in one] == [msam[0].name]
    with pytest.raises(ValueError, match="no case named"):
        crosscheck.load_cases(golden_dir, names=["no-such-case"])


def test_manifest_describes_schedules_as_per_step_lists(golden_dir):
    manifest = json.loads((golden_dir / "manifest.json").read_text())
    assert (manifest["format"], manifest["version"], manifest["dtype"]) == (
        "minimsam-crosscheck",
        1,
        "float64",
    )
    for entry in manifest["cases"]:
        steps = entry["steps"]
        assert len(entry["schedule"]["lr"]) == steps
        rho = entry["schedule"]["rho"]
        assert (rho is not None) == (entry["optimizer"] in ("sam", "msam", "adamw-msam"))
        assert rho is None or len(rho) == steps
        with np.load(golden_dir / entry["file"]) as data:
            assert sorted(data.files) == sorted(entry["arrays"])
            for key, meta in entry["arrays"].items():
                assert (
                    list(data[key].shape) == meta["shape"] and str(data[key].dtype) == meta["dtype"]
                )


def test_a_changed_file_is_refused(tmp_path):
    directory = crosscheck.export(tmp_path, optimizers=["sgd"]).parent
    path = next(directory.glob("*.npz"))
    data = bytearray(path.read_bytes())
    data[-30] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        crosscheck.load_cases(directory)


def test_a_foreign_manifest_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="crosscheck export"):
        crosscheck.load_cases(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(ValueError, match="not a minimsam-crosscheck manifest"):
        crosscheck.load_cases(tmp_path)


def test_export_rejects_an_unknown_optimizer(tmp_path):
    with pytest.raises(ValueError, match="unknown optimizer"):
        crosscheck.export(tmp_path, optimizers=["adam"])


@pytest.mark.parametrize("name", ["sgd-mlp-momentum-wd-restore", "sgd-mlp-nesterov-wd-restore"])
def test_the_files_alone_reproduce_the_trajectory_without_minimsam(golden_dir, name):
    """A json + numpy re-implementation of the MLP and SGD with momentum, run in a fresh
    interpreter where ``import minimsam`` fails, matches the stored trajectory."""
    script = HERE / "replay_sgd_without_minimsam.py"
    guard = (
        "import sys, runpy; sys.modules['minimsam'] = None; "
        f"sys.argv = ['replay', {str(golden_dir)!r}, {name!r}]; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    out = subprocess.run([sys.executable, "-c", guard], capture_output=True, text=True, check=True)
    worst = json.loads(out.stdout)
    assert worst["params"] < 1e-12 and worst["loss"] < 1e-12 and worst["grads"] < 1e-12


def test_export_does_not_import_torch(tmp_path):
    code = (
        "import sys; from minimsam import crosscheck; "
        f"crosscheck.export({str(tmp_path)!r}, optimizers=['msam']); "
        f"crosscheck.load_cases({str(tmp_path)!r}); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
