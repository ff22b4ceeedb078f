"""Bad command lines: exit status != 0, exactly one line on stderr, no traceback.

Rows run ``cli.main(argv)`` in-process (argparse's usage errors arrive as SystemExit);
two rows also run ``python -m minimsam`` as a real process. A row is an argv, the
environment it runs in, and fragments the one error line must contain; a new case is
one row. Rows that need a run folder say so with ``{run}`` (a finished float32 run of
one epoch), ``{locked}`` (a folder locked by a live process) or ``{corrupt}`` (a run
folder whose checkpoint is damaged).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import pytest

import minimsam as ms
from minimsam import backend as backend_module
from minimsam import cli, rundir
from minimsam.data import datasets

TINY = ["--n-train", "128", "--hidden", "8", "--batch-size", "64", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def cli_data_dir(tmp_path_factory):
    """MNIST-1D generated once into a private folder (never the user's cache)."""
    pytest.importorskip("mnist1d")
    directory = tmp_path_factory.mktemp("mnist1d")
    datasets.load("mnist1d", data_dir=directory)
    return directory


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """Private HOME and cache, no $MINIMSAM_*, no network; the backend restored after."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("MINIMSAM_DATA", "MINIMSAM_BACKEND"):
        monkeypatch.delenv(name, raising=False)

    def no_network(url, *args, **kwargs):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(datasets, "_urlopen", no_network)
    with ms.use_backend("numpy"):
        yield monkeypatch


def main(capsys, argv):
    """``(status, stdout, stderr)`` of ``minimsam argv``, in this process."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's usage errors and --help
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_error_line(status, err, fragments):
    assert status not in (0, None), err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("minimsam: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _finished_run(folder, data_dir, capsys):
    status, _, err = main(capsys, ["train", "--data-dir", data_dir, *TINY, "--out", folder])
    assert status == 0, err
    return folder


# argv, {environment variable: value}, fragments of the error line
ROWS = {
    "landscape into /proc": (["landscape", "--out", "/proc/x/a.png"], {},
                             ["--out", "cannot create the folder /proc/x"]),
    "landscape, unknown format": (["landscape", "--out", "{tmp}/a.xyz"], {},
                                  ["unknown figure format '.xyz'", ".png"]),
    "compare into /proc": (["compare", "--out", "/proc/x"], {}, ["--out", "/proc/x"]),
    "MINIMSAM_BACKEND honoured": (["train", "--epochs", "1"], {"MINIMSAM_BACKEND": "cupy"},
                                  ["no GPU here (test)"]),
    "MINIMSAM_BACKEND vs --backend": (["train", "--backend", "numpy"],
                                      {"MINIMSAM_BACKEND": "cupy"},
                                      ["--backend numpy", "MINIMSAM_BACKEND=cupy"]),
    "MINIMSAM_BACKEND unknown": (["landscape"], {"MINIMSAM_BACKEND": "tpu"},
                                 ["MINIMSAM_BACKEND='tpu'", "numpy"]),
    "--seed -1": (["train", "--seed", "-1"], {}, ["--seed", "'-1'", ">= 0"]),
    "compare --seed -1": (["compare", "--seed", "-1"], {}, ["--seed"]),
    "landscape --seed -1": (["landscape", "--seed", "-1"], {}, ["--seed"]),
    "--data-seed -1": (["train", "--data-seed", "-1"], {}, ["--data-seed"]),
    "--seeds 0": (["compare", "--seeds", "0"], {}, ["--seeds", ">= 1"]),
    "--epochs -1": (["train", "--epochs", "-1"], {}, ["--epochs"]),
    "--epochs x": (["train", "--epochs", "x"], {}, ["--epochs", "'x'"]),
    "--batch-size 0": (["train", "--batch-size", "0"], {}, ["--batch-size", ">= 1"]),
    "--n-train 0": (["train", "--n-train", "0"], {}, ["--n-train"]),
    "--steps 0": (["landscape", "--steps", "0"], {}, ["--steps"]),
    "--warmup-epochs > --epochs": (["train", "--schedule", "warmup-cosine", "--epochs", "3",
                                    "--warmup-epochs", "5"], {},
                                   ["--warmup-epochs 5", "--epochs 3"]),
    "--warmup-epochs = --epochs": (["train", "--schedule", "warmup-cosine", "--epochs", "3",
                                    "--warmup-epochs", "3"], {},
                                   ["--warmup-epochs 3", "--epochs 3"]),
    "--warmup-epochs, no warm-up schedule": (["train", "--warmup-epochs", "2"], {},
                                             ["--schedule warmup-cosine"]),
    "--warmup-epochs -1": (["train", "--warmup-epochs", "-1"], {}, ["--warmup-epochs"]),
    "--dataset cifar": (["train", "--dataset", "cifar"], {}, ["--dataset", "cifar",
                                                               "fashion-mnist"]),
    "--dataset fashion_mnist (accepted; the next option is not)": (
        ["train", "--dataset", "fashion_mnist", "--optimizer", "sgd", "--rho", "1"], {},
        ["--rho does not apply to optimizer 'sgd'"]),
    "--resume, cosine schedule over more epochs": (
        ["train", "--data-dir", "{data}", *TINY[:-3], "--epochs", "2", "--out", "{run}",
         "--resume"], {}, ["optimizer.lr: schedule values differ", "total_steps=2",
                           "total_steps=4"]),
    "an existing run without --resume": (["train", "--data-dir", "{data}", *TINY, "--out",
                                          "{run}"], {}, ["{run}", "already holds a run",
                                                         "--resume", "--force", "--out"]),
    "--resume on a folder without a checkpoint": (
        ["train", "--data-dir", "{data}", *TINY, "--out", "{tmp}/typo", "--resume"], {},
        ["--resume", "no checkpoint in {tmp}/typo", "nothing to continue"]),
    "compare --resume on a folder without runs": (
        ["compare", "--data-dir", "{data}", *TINY, "--out", "{tmp}/typo", "--resume"], {},
        ["--resume", "no checkpoint in {tmp}/typo"]),
    "--resume --dtype float64 on a float32 run": (
        ["train", "--data-dir", "{data}", *TINY, "--out", "{run}", "--resume", "--dtype",
         "float64"], {}, ["cannot resume", "dtype: checkpoint 'float32', now 'float64'"]),
    "--resume with another optimizer": (
        ["train", "--data-dir", "{data}", *TINY, "--out", "{run}", "--resume", "--optimizer",
         "sgd"], {}, ["cannot resume", "optimizer.class: checkpoint 'MSAM', now 'SGD'"]),
    "--resume with a damaged checkpoint": (
        ["train", "--data-dir", "{data}", *TINY, "--out", "{corrupt}", "--resume"], {},
        ["checkpoint", "{corrupt}", "corrupt or truncated"]),
    "a folder in use by another run": (
        ["train", "--data-dir", "{data}", *TINY, "--out", "{locked}"], {},
        ["{locked}", "in use by another run", f"pid {os.getppid()}", "started"]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ROWS))
def test_a_bad_command_line_is_one_error_line(name, tmp_path, capsys, cli_env, request):
    argv, env, fragments = ROWS[name]
    places = {"tmp": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    text = " ".join(map(str, argv))
    if "{data}" in text:
        places["data"] = str(request.getfixturevalue("cli_data_dir"))
    if "{run}" in text:
        places["run"] = str(_finished_run(tmp_path / "run", places["data"], capsys))
    if "{corrupt}" in text:
        folder = _finished_run(tmp_path / "corrupt", places["data"], capsys)
        checkpoint = folder / "checkpoint.npz"
        checkpoint.write_bytes(checkpoint.read_bytes()[:-100])
        places["corrupt"] = str(folder)
    if "{locked}" in text:
        folder = tmp_path / "locked"
        folder.mkdir()
        import socket

        lock = {"pid": os.getppid(), "host": socket.gethostname(), "started": "earlier"}
        (folder / rundir.LOCK).write_text(json.dumps(lock))
        places["locked"] = str(folder)
    for key, value in env.items():
        cli_env.setenv(key, value)
    if env.get("MINIMSAM_BACKEND") == "cupy":  # no GPU here, whatever the machine has

        def unavailable():
            raise ms.BackendUnavailableError("no GPU here (test)")

        cli_env.setitem(backend_module._FACTORIES, "cupy", unavailable)
        cli_env.setattr(backend_module, "_cache", {})
    summary = tmp_path / "run" / "summary.json"
    before = summary.read_bytes() if summary.exists() else None
    status, out, err = main(capsys, [str(a).format(**places) for a in argv])
    assert_one_error_line(status, err, [f.format(**places) for f in fragments])
    if before is not None:  # a refused run changes nothing, the summary's dtype included
        assert summary.read_bytes() == before


# ----------------------------------------------------------------------------- correct results


def test_dataset_names_are_those_of_data_load():
    parser = cli.build_parser()
    for name, canonical in [("fashion_mnist", "fashion-mnist"), ("Fashion-MNIST", "fashion-mnist"),
                            ("mnist-1d", "mnist1d"), ("mnist", "mnist")]:  # fmt: skip
        assert parser.parse_args(["train", "--dataset", name]).dataset == canonical
        assert datasets.canonical_name(name) == canonical


@pytest.mark.parametrize(
    "backend_option, env, expected",
    [(None, None, "numpy"), (None, "cupy", "cupy"), ("cupy", None, "cupy"),
     ("cupy", "cupy", "cupy"), (None, "", "numpy"), ("numpy", "NumPy", "numpy")],
)  # fmt: skip
def test_the_backend_comes_from_the_option_or_the_environment(
    cli_env, backend_option, env, expected
):
    if env is not None:
        cli_env.setenv("MINIMSAM_BACKEND", env)
    args = argparse.Namespace(command="train", backend=backend_option)
    assert cli._backend_name(args) == expected


def test_resume_and_fresh_start_are_announced(tmp_path, capsys, cli_env, cli_data_dir):
    base = ["train", "--data-dir", cli_data_dir, "--n-train", "128", "--hidden", "8",
            "--batch-size", "64", "--schedule", "constant", "--out", tmp_path / "run"]  # fmt: skip
    status, out, err = main(capsys, [*base, "--epochs", "1", "--resume"])
    assert status == 1  # nothing to resume: a mistyped folder must not start a fresh run
    assert f"--resume: no checkpoint in {tmp_path / 'run'}" in err
    status, out, err = main(capsys, [*base, "--epochs", "1"])
    assert status == 0, err
    status, out, err = main(capsys, [*base, "--epochs", "2", "--resume"])
    assert status == 0, err
    assert "resuming from epoch 1" in out and "epoch   2/2" in out
    status, out, err = main(capsys, [*base, "--epochs", "1", "--force"])
    assert status == 0, err
    log = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert len(log) == 1  # --force replaced the 2-epoch run


def test_landscape_checks_its_output_before_computing(tmp_path, capsys, cli_env, monkeypatch):
    computed = []
    with monkeypatch.context() as patch:
        patch.setattr(cli, "trajectory", lambda *a, **k: computed.append(a))
        status, out, err = main(capsys, ["landscape", "--out", "/proc/x/a.png"])
    assert status == 1 and computed == []
    status, out, err = main(capsys, ["landscape", "--out", tmp_path / "new" / "a.svg",
                                     "--steps", "2"])  # fmt: skip
    assert status == 0, err
    assert (tmp_path / "new" / "a.svg").is_file()  # the missing folder was created


HELP = [["--help"], ["train", "--help"], ["compare", "--help"], ["landscape", "--help"],
        ["figures", "--help"], ["crosscheck", "--help"], ["crosscheck", "export", "--help"],
        ["crosscheck", "torch", "--help"], ["exercise", "--help"],
        ["exercise", "check", "--help"]]  # fmt: skip


@pytest.mark.parametrize("argv", HELP, ids=" ".join)
def test_help_texts_have_no_sphinx_markup(argv, capsys):
    status, out, err = main(capsys, argv)
    assert status == 0 and out
    for markup in ("``", ":class:", ":func:", ":mod:", ":meth:", ":data:", "::\n"):
        assert markup not in out, markup


# ----------------------------------------------------------------------------- real processes

PROCESS_ROWS = [
    (["figures", "--out", "/proc/x/y", "--only", "msam_steps"], {}, ["experiments.figures"]),
    (["train", "--epochs", "1", "--backend", "numpy"], {"MINIMSAM_BACKEND": "tpu"},
     ["MINIMSAM_BACKEND='tpu'"]),
]  # fmt: skip


@pytest.mark.parametrize("argv, env, fragments", PROCESS_ROWS)
def test_python_dash_m_gives_one_line_and_no_traceback(argv, env, fragments, tmp_path):
    environment = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path),
                   **env}  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "minimsam", *argv], capture_output=True,
                          text=True, timeout=120, env=environment)  # fmt: skip
    assert time.monotonic() - start < 60
    assert_one_error_line(proc.returncode, proc.stderr, fragments)
