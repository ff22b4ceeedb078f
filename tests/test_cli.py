"""The ``minimsam`` command: end to end on tiny settings, and one-line errors."""

from __future__ import annotations

import json
import os
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
        (["train", "--blas-threads", "0"], 2, ["--blas-threads", "'0'"]),
        (["compare", "--blas-threads", "many"], 2, ["--blas-threads", "'many'"]),
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


# ----------------------------------------------------------------------------- traps


def test_help_lists_no_moved_command_and_every_option_has_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = capsys.readouterr().out
    assert "figures" not in top and "train" in top and "exercise" in top
    parser = cli.build_parser()
    for name in ("train", "compare"):
        sub = parser._subparsers._group_actions[0].choices[name]
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings} has no help"
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "nothing is saved" in text  # train without --out
    assert "--blas-threads" in text and "auto (default): 1" in text


def test_crosscheck_help_names_pytorch_jax_and_trajectory_files(capsys):
    with pytest.raises(SystemExit):
        cli.main(["crosscheck", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "PyTorch" in text and "JAX" in text and "trajectory file" in text


@pytest.mark.parametrize(
    "option, environ, expected",
    [("auto", {}, 1), ("auto", {"OPENBLAS_NUM_THREADS": "4"}, None),
     ("auto", {"OMP_NUM_THREADS": "2"}, None), ("auto", {"OPENBLAS_NUM_THREADS": ""}, 1),
     (3, {}, 3), (2, {"OPENBLAS_NUM_THREADS": "1"}, 2)],
)  # fmt: skip
def test_blas_threads_auto_is_one_unless_the_environment_says(option, environ, expected):
    assert cli.blas_thread_count(option, environ) == expected


def test_train_runs_the_blas_with_the_chosen_threads(capsys, monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]:
        reason = "NumPy's BLAS is not visible to threadpoolctl"
        if os.environ.get("CI"):  # CI's NumPy wheels ship OpenBLAS, which it sees
            pytest.fail(reason)
        pytest.skip(reason)
    for name in cli.BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    seen = []

    def record(args):
        info = threadpoolctl.threadpool_info()
        seen.append({i["num_threads"] for i in info if i["user_api"] == "blas"})
        return 0

    monkeypatch.setattr(cli, "cmd_train", record)
    assert cli.main(["train"]) == 0
    assert cli.main(["train", "--blas-threads", "2"]) == 0
    assert seen == [{1}, {2}]


def test_compare_twice_names_the_options_that_resolve_it(capsys, tmp_path, mnist1d_dir):
    argv = ["compare", "--optimizers", "sgd", "--seeds", "1", "--epochs", "1",
            "--data-dir", mnist1d_dir, *TINY, "--out", tmp_path, "--quiet"]  # fmt: skip
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    status, out, err = run(capsys, *argv)
    assert status == 1
    assert_one_error_line(err, str(tmp_path), "--force", "--resume", "--out")
    assert "=True" not in err  # command-line flags, not Python arguments


def test_resume_on_a_folder_without_a_checkpoint_is_an_error(capsys, tmp_path, mnist1d_dir):
    argv = ["train", "--data-dir", mnist1d_dir, *TINY, "--out", tmp_path / "typo", "--resume"]
    status, out, err = run(capsys, *argv)
    assert status == 1
    assert_one_error_line(err, "--resume", "no checkpoint in", str(tmp_path / "typo"))
    assert not (tmp_path / "typo").exists()  # and nothing was started


@pytest.mark.parametrize(
    "argv, expected, unexpected",
    [(["train"], "nothing was saved", "--resume"),
     (["train", "--out", "{tmp}/run"], "before the first epoch ended", "--resume"),
     (["train", "--out", "{tmp}/done", "--resume"], "--resume", "nothing")],
)  # fmt: skip
def test_ctrl_c_says_what_was_saved(capsys, tmp_path, monkeypatch, argv, expected, unexpected):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / train.CHECKPOINT).write_bytes(b"")  # an epoch was saved
    argv = [a.format(tmp=tmp_path) for a in argv]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_check_optimizers", interrupted)
    status, out, err = run(capsys, *argv)
    assert status == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minimsam: interrupted")
    assert expected in lines[0] and unexpected not in lines[0]


def test_compare_lines_reach_a_pipe_before_the_first_run_ends(monkeypatch, tmp_path, mnist1d_dir):
    import io

    raw = io.BytesIO()
    piped = io.TextIOWrapper(raw, encoding="utf-8", line_buffering=False)  # as a pipe: buffered
    monkeypatch.setattr(sys, "stdout", piped)
    seen_before_training = []
    real_run = cli._run

    def first_run(*args, **kwargs):
        seen_before_training.append(raw.getvalue().decode())
        return real_run(*args, **kwargs)

    monkeypatch.setattr(cli, "_run", first_run)
    argv = ["compare", "--optimizers", "sgd", "--seeds", "2", "--epochs", "1",
            "--data-dir", mnist1d_dir, *TINY, "--out", tmp_path]  # fmt: skip
    assert cli.main([str(a) for a in argv]) == 0
    assert "1 optimizers x 2 seeds" in seen_before_training[0]
    assert "sgd        seed 0: test_acc" in seen_before_training[1]  # flushed after run 1


def test_comparison_plot_uses_the_optimizer_palette(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from minimsam import viz

    drawn = []
    monkeypatch.setattr(cli, "_save", lambda fig, path: drawn.append(fig))
    rows = [{"optimizer": name, "runs": [{"test_acc_curve": [0.1, 0.5, 0.6]}] * 2}
            for name in ("sgd", "nag", "sam", "msam")]  # fmt: skip
    cli.plot_comparison(rows, tmp_path / "c.png")
    (ax,) = drawn[0].axes
    for line in ax.lines:
        style = viz.optimizer_style(line.get_label())
        assert line.get_color() == style["color"] and line.get_marker() == style["marker"]
    assert {line.get_label() for line in ax.lines} == {"sgd", "nag", "sam", "msam"}
