"""The ``minimsam`` command: end to end on tiny settings, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import minimsam as ms
from minimsam import backend as backend_module
from minimsam import cli, train
from minimsam.data import datasets

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--n-train", "256", "--hidden", "16", "--batch-size", "64"]


@pytest.fixture(scope="module")
def mnist1d_dir(tmp_path_factory):
    """A directory the CLI reads MNIST-1D from (generated once, never in the user cache)."""
    pytest.importorskip("mnist1d")
    directory = tmp_path_factory.mktemp("mnist1d")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(directory / "xdg-cache"))
        mp.delenv("MINIMSAM_DATA", raising=False)
        datasets.load("mnist1d", data_dir=directory)
    return directory


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """Private HOME and cache, no $MINIMSAM_DATA, no network; the backend restored after."""
    root = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("HOME", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    monkeypatch.delenv("MINIMSAM_DATA", raising=False)

    def no_network(url, *args, **kwargs):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(datasets, "_urlopen", no_network)
    with ms.use_backend("numpy"):
        yield


def run(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_error_line(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("minimsam: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


# ----------------------------------------------------------------------------- train


def test_train_writes_its_files_and_resumes(capsys, tmp_path, mnist1d_dir):
    out = tmp_path / "run"
    base = ["train", "--optimizer", "sam", "--schedule", "constant", "--data-dir", mnist1d_dir,
            *TINY, "--out", out]  # fmt: skip
    status, stdout, err = run(capsys, *base, "--epochs", "2")
    assert status == 0, err
    assert "epoch   1/2" in stdout and "epoch   2/2" in stdout
    assert "test_acc" in stdout.splitlines()[-1] and "2 grad evals/step" in stdout
    assert {p.name for p in out.iterdir()} >= {"log.jsonl", "summary.json", "checkpoint.npz"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["optimizer"] == "sam" and summary["epochs"] == 2
    assert summary["run"]["data"]["x_train"].startswith("float32[256, 40] sha256:")
    assert summary["run"]["optimizer"]["rho"] == train.DEFAULTS["sam"]["rho"]

    status, stdout, err = run(capsys, *base, "--epochs", "3", "--resume", "--quiet")
    assert status == 0, err
    assert len(stdout.splitlines()) == 1 and "after 3 epochs" in stdout  # --quiet: summary only
    log = (out / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == [1, 2, 3]


def test_train_help_documents_the_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for name, hyper in train.DEFAULTS.items():
        assert name in text
        for key, value in hyper.items():
            assert f"{key}={value:g}" in text


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "argv, status, fragments",
    [
        (["train", "--optimizer", "adam"], 2, ["--optimizer", "'adam'"]),
        (["compare", "--optimizers", "sgd,adam"], 2, ["adam"]),
        (["train", "--hidden", "0,4"], 2, ["--hidden"]),
        (["landscape", "--start", "1"], 2, ["--start"]),
        (["landscape", "--surface", "saddle"], 2, ["saddle"]),
        (["train", "--lr", "-0.1"], 1, ["lr", "-0.1"]),
        (["train", "--optimizer", "sgd", "--rho", "0.1"], 1, ["--rho", "sgd"]),
        (["train", "--model", "cnn"], 1, ["cnn"]),
        (["train", "--resume"], 1, ["--out"]),
        (["landscape", "--steps", "0"], 2, ["--steps"]),
        (["landscape", "--optimizers", "msam", "--rho", "-1"], 1, ["rho"]),
    ],
)
def test_bad_arguments_give_one_error_line(capsys, argv, status, fragments):
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == status
    assert_one_error_line(err, *fragments)


@pytest.mark.parametrize("command", [["train", "--optimizer", "msam"], ["landscape"]])
def test_negative_rho_names_the_tutorial_section(capsys, command):
    status, out, err = run(capsys, *command, "--rho", "-0.5")
    assert status == 1
    assert_one_error_line(err, "--rho", "-0.5", "tutorials/04_msam.ipynb", "'Negative rho'")
    from pathlib import Path

    notebook = Path(__file__).resolve().parents[1] / "tutorials" / "04_msam.ipynb"
    assert '"## Negative rho\\n"' in notebook.read_text()  # the section the message names


def test_missing_dataset_is_one_line_and_no_download(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["train", "--dataset", "mnist", "--data-dir", empty, "--no-download", "--epochs", "1"]
    status, out, err = run(capsys, *argv)
    assert status == 1
    assert_one_error_line(err, "MNIST", str(empty))
    assert list(empty.iterdir()) == []


def test_unavailable_backend_is_one_line(capsys, monkeypatch):
    def unavailable():
        raise ms.BackendUnavailableError("no GPU here (test)")

    monkeypatch.setitem(backend_module._FACTORIES, "cupy", unavailable)
    monkeypatch.setattr(backend_module, "_cache", {})
    status, out, err = run(capsys, "train", "--backend", "cupy", "--epochs", "1")
    assert status == 1
    assert_one_error_line(err, "no GPU here (test)")


def test_divergence_is_one_line(capsys, tmp_path, mnist1d_dir):
    argv = ["train", "--optimizer", "sgd", "--lr", "1e30", "--schedule", "constant",
            "--data-dir", mnist1d_dir, *TINY, "--epochs", "2", "--out", tmp_path,
            "--quiet"]  # fmt: skip
    with np.errstate(all="ignore"):
        status, out, err = run(capsys, *argv)
    assert status == 1
    assert_one_error_line(err, "diverged", "epoch 1")


def test_python_dash_m_reports_errors_without_traceback():
    for argv, status in ((["train", "--optimizer", "adam"], 2), (["landscape", "--steps", "0"], 2)):
        proc = subprocess.run([sys.executable, "-m", "minimsam", *argv], capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert proc.returncode == status
        assert_one_error_line(proc.stderr)
        assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- compare


def test_compare_prints_a_table_and_writes_its_files(capsys, tmp_path, mnist1d_dir):
    argv = ["compare", "--optimizers", "sgd,msam", "--seeds", "2", "--epochs", "2",
            "--data-dir", mnist1d_dir, *TINY, "--rho", "0.5", "--out", tmp_path,
            "--quiet"]  # fmt: skip
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(table) == 3  # header and one row per optimizer
    assert table[1].startswith("| sgd |") and table[2].startswith("| msam |")
    assert "rho=0.5" in table[2] and "rho" not in table[1]  # --rho applies to MSAM only
    assert "±" in table[1]
    for name in ("comparison.md", "comparison.json", "comparison.png"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "comparison.png").read_bytes().startswith(PNG_MAGIC)
    assert "| msam |" in (tmp_path / "comparison.md").read_text()
    report = json.loads((tmp_path / "comparison.json").read_text())
    assert report["seeds"] == [0, 1]
    rows = {r["optimizer"]: r for r in report["results"]}
    assert set(rows) == {"sgd", "msam"}
    for row in rows.values():
        accs = [run["final"]["test_acc"] for run in row["runs"]]
        assert [run["seed"] for run in row["runs"]] == [0, 1]
        assert row["test_acc_mean"] == pytest.approx(np.mean(accs))
        assert row["test_acc_std"] == pytest.approx(np.std(accs, ddof=1))
        assert all(len(run["test_acc_curve"]) == 2 for run in row["runs"])
        assert row["grad_evals_per_step"] == 1.0
        assert f"{row['test_acc_mean']:.4f} ± {row['test_acc_std']:.4f}" in out
    # each run is a resumable training run of its own
    assert (tmp_path / "msam-seed1" / "checkpoint.npz").is_file()


# ----------------------------------------------------------------------------- landscape


def test_landscape_draws_trajectories(capsys, tmp_path):
    figure = tmp_path / "traj.png"
    argv = ["landscape", "--surface", "quadratic", "--optimizers", "sgd,nag,sam,msam",
            "--steps", "150", "--noise", "0.01", "--out", figure]  # fmt: skip
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    assert figure.read_bytes().startswith(PNG_MAGIC)
    lines = [line for line in out.splitlines() if "nearest minimum" in line]
    assert [line.split()[0] for line in lines] == ["sgd", "nag", "sam", "msam"]
    for line in lines:  # every optimizer ends near the quadratic's minimum (0, 0)
        distance = float(line.split("at distance")[1])
        assert distance < 0.2


def test_landscape_trajectory_uses_the_unperturbed_iterates():
    surface = cli.landscapes.get("sharp-flat")
    opt = train.make_optimizer("msam", lr=0.02, rho=0.3)
    path = cli.trajectory(surface, opt, surface.start, steps=5, noise=0.0, seed=0)
    assert path.shape == (6, 2)
    np.testing.assert_array_equal(path[0], surface.start)
    params = {"w": np.array(surface.start)}
    state = opt.init(params)
    grad_fn = surface.grad_fn()
    for t in range(5):
        params, state, _ = opt.step(params, state, grad_fn)
        np.testing.assert_array_equal(path[t + 1], opt.eval_params(params, state)["w"])


def test_crosscheck_is_a_subcommand(tmp_path):
    assert cli.main(["crosscheck", "export", "--out", str(tmp_path / "cases")]) == 0
    manifest = json.loads((tmp_path / "cases" / "manifest.json").read_text())
    assert manifest["cases"]


def test_figures_says_where_the_command_moved(capsys):
    # the figure generator lives beside the experiments, not in the installed package
    assert cli.main(["figures", "--list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "python -m experiments.figures" in err
    assert cli.main(["figures", "--help"]) == 0
    assert "python -m experiments.figures" in capsys.readouterr().out
