"""Bad files and run folders: one clear error each, nothing silently wrong, nothing lost.

Each table row is one input and what must come of it: an exception type plus a
fragment of its one-line message, or the correct result. A new case is one row.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from minimsam import atomic, nn, optim, rundir, train
from minimsam.data import Dataset
from minimsam.data.idx import write_idx
from minimsam.optim import schedules
from minimsam.serialization import FileFormatError

from ._library_table import Row, check, params

MODEL = nn.MLP([6, 8, 3])
DEAD_PID = 2**30  # above Linux's pid_max: never a running process
RAW_ERRORS = ("allow_pickle", "BadZipFile", "EOFError", "KeyError", "Traceback")


def blobs(dtype=np.float32, scale=1.0) -> Dataset:
    """Three Gaussian blobs in 6-D: 64 training samples (2 batches of 32), 32 test."""
    rng = np.random.default_rng(0)
    centers = 2.0 * rng.standard_normal((3, 6))

    def draw(n):
        y = rng.integers(0, 3, n)
        return (scale * (centers[y] + rng.standard_normal((n, 6)))).astype(dtype), y

    (x, y), (xt, yt) = draw(64), draw(32)
    return Dataset("blobs", x, y, xt, yt, num_classes=3, input_shape=(6,))


DATA = blobs()


def assert_one_line(err: BaseException, *fragments: str) -> None:
    message = str(err)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    for raw in RAW_ERRORS:
        assert raw not in message, message


def run_fit(out, optimizer=None, epochs=1, model=MODEL, data=DATA, dtype="float32", **kwargs):
    optimizer = optimizer if optimizer is not None else optim.SGD(lr=0.1, momentum=0.9)
    kwargs.setdefault("batch_size", 32)
    return train.fit(model, model.init(0, dtype=dtype), optimizer, data, epochs, out_dir=out,
                     progress=False, **kwargs)  # fmt: skip


# ----------------------------------------------------------------------------- bad files


def _a_state_file(path: Path) -> None:
    opt = optim.MSAM(lr=0.1, rho=0.3)
    optim.save_state(path, opt.init(MODEL.init(0)))


def _truncated(path: Path) -> None:
    _a_state_file(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _bit_rot(path: Path) -> None:
    _a_state_file(path)
    raw = bytearray(path.read_bytes())
    raw[200:260] = bytes(60)  # inside the first array's data: the CRC no longer matches
    path.write_bytes(bytes(raw))


def _checkpoint_with_bad_meta(path: Path) -> None:
    np.savez(path, epoch=np.asarray(1), meta=np.asarray("{not json"), **{"params/w": np.ones(2)})


BAD_FILES = {
    # name: (write the file, fragment of the message for load_state, for load_checkpoint)
    "empty": (lambda p: p.write_bytes(b""), "empty", "empty"),
    "text": (lambda p: p.write_text("lr = 0.1\n"), "not an .npz", "not an .npz"),
    "truncated": (_truncated, "truncated", "truncated"),
    "bit rot": (_bit_rot, "corrupt", "corrupt"),
    "single .npy": (lambda p: np.save(open(p, "wb"), np.ones(3)), ".npy", ".npy"),
    "pickled objects": (
        lambda p: np.savez(p, a=np.array([{}], dtype=object)),
        "pickled",
        "pickled",
    ),  # fmt: skip
    "foreign .npz": (
        lambda p: np.savez(p, x=np.ones(3), y=np.zeros(2)),
        "not an optimizer state",
        "not a minimsam checkpoint",
    ),  # fmt: skip
    "state, not a checkpoint": (_a_state_file, None, "not a minimsam checkpoint"),
    "checkpoint, bad meta": (
        _checkpoint_with_bad_meta,
        "a training checkpoint, not an optimizer state",
        "unreadable epoch or meta",
    ),  # fmt: skip
    "a folder": (lambda p: p.mkdir(), "is a folder", "is a folder"),
}


@pytest.mark.parametrize("loader", ["load_state", "load_checkpoint"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_one_line_naming_it(tmp_path, case, loader):
    write, state_fragment, checkpoint_fragment = BAD_FILES[case]
    fragment = state_fragment if loader == "load_state" else checkpoint_fragment
    path = tmp_path / "bad.npz"
    write(path)
    load = optim.load_state if loader == "load_state" else train.load_checkpoint
    if fragment is None:  # the row says: this file is fine for this loader
        load(path)
        return
    with pytest.raises(FileFormatError) as err:
        load(path)
    assert_one_line(err.value, str(path), fragment)


@pytest.mark.parametrize("load", [optim.load_state, train.load_checkpoint])
def test_a_missing_file_names_it(tmp_path, load):
    with pytest.raises(FileNotFoundError, match="no such file") as err:
        load(tmp_path / "nothing.npz")
    assert_one_line(err.value, str(tmp_path / "nothing.npz"))


# ----------------------------------------------------------------------------- state into optimizer

STATE_INTO = [
    # (saved by, saved with optimizer=, loaded into, fragment or None for a correct load)
    (optim.SGD(lr=0.1, momentum=0.9), True, optim.AdamW(), "saved by SGD"),
    (optim.SGD(lr=0.1, momentum=0.9), False, optim.AdamW(), "does not belong to AdamW"),
    (optim.SGD(lr=0.1, momentum=0.9), True, optim.MSAM(lr=0.1, rho=0.3), "saved by SGD"),
    (
        optim.MSAM(lr=0.1, rho=0.3, store_perturbed=True),
        False,
        optim.MSAM(lr=0.1, rho=0.3),
        "does not belong to MSAM",
    ),  # fmt: skip
    (optim.AdamW(), False, optim.SGD(lr=0.1, momentum=0.9), "does not belong to SGD"),
    (optim.AdamW(), True, optim.AdamW(), None),
    (optim.SGD(lr=0.1), True, optim.SGD(lr=0.2), None),  # same class, other hyperparameters
]


@pytest.mark.parametrize("saver, record, loader, fragment", STATE_INTO)
def test_a_state_goes_only_to_its_optimizer(tmp_path, saver, record, loader, fragment):
    params = MODEL.init(0)
    state = saver.init(params)
    path = tmp_path / "state.npz"
    optim.save_state(path, state, optimizer=saver if record else None)
    if fragment is None:
        loaded = optim.load_state(path, optimizer=loader)
        assert loaded.keys() == state.keys() and loaded["step"] == 0
        return
    with pytest.raises(FileFormatError) as err:
        optim.load_state(path, optimizer=loader)
    assert_one_line(err.value, str(path), fragment)


def _save_as(tmp, saver, recorded_as):
    optim.save_state(tmp / "s.npz", saver.init(MODEL.init(0)), optimizer=recorded_as)
    return optim.load_state(tmp / "s.npz", optimizer=recorded_as)


SAVE_ROWS = [
    Row("save_state: an MSAM(store_perturbed=True) state recorded as a default MSAM's",
        lambda tmp: _save_as(tmp, optim.MSAM(0.1, store_perturbed=True), optim.MSAM(0.1)),
        FileFormatError, "s.npz does not belong to MSAM: it holds ['momentum', 'scale', 'step']"),
    Row("save_state: an SGD state recorded as AdamW's", lambda tmp: _save_as(
        tmp, optim.SGD(0.1, momentum=0.9), optim.AdamW()), FileFormatError,
        "does not belong to AdamW"),
    Row("save_state: its own state", lambda tmp: _save_as(tmp, optim.AdamW(), optim.AdamW()),
        expect=lambda state: state["step"] == 0 or pytest.fail(state)),
]  # fmt: skip


@pytest.mark.parametrize("row", params(SAVE_ROWS))
def test_save_state_records_only_a_state_of_its_optimizer(tmp_path, row):
    check(row, tmp_path)
    if row.error is not None:
        assert not (tmp_path / "s.npz").exists()  # refused before writing


# ----------------------------------------------------------------------------- atomic writes


def _state(path: Path, version: int) -> None:
    optim.save_state(path, {"step": version, "m": {"w": np.full(50_000, version, np.float32)}})


def _checkpoint(path: Path, version: int) -> None:
    params = {"w": np.full(50_000, version, np.float32)}
    train.save_checkpoint(path, params, {"step": version}, version, {"history": []})


def _text(path: Path, version: int) -> None:
    atomic.write_text(path, json.dumps({"version": version, "pad": "x" * 10_000}))


def _idx(path: Path, version: int) -> None:
    write_idx(path, np.full((100, 28, 28), version, np.uint8))


def _figure(path: Path, version: int) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from minimsam import viz

    fig = Figure()
    fig.subplots().plot(np.arange(100) * version)
    viz.save_figure(fig, path)


WRITERS = {
    "optim.save_state": (_state, "state.npz"),
    "train.save_checkpoint": (_checkpoint, "checkpoint.npz"),
    "log / summary JSON": (_text, "summary.json"),
    "data.idx.write_idx (dataset cache)": (_idx, "train-images-idx3-ubyte"),
    "viz.save_figure": (_figure, "figure.png"),
}


@pytest.fixture
def full_disk(monkeypatch):
    """After ``limit`` bytes every write to a file opened by atomic_write fails (ENOSPC)."""
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f, limit):
            self._f, self._left = f, limit

        def write(self, data):
            if len(data) > self._left:
                self._f.write(data[: self._left])
                self._left = 0
                raise OSError(errno.ENOSPC, "No space left on device (simulated)")
            self._left -= len(data)
            return self._f.write(data)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def arm(limit: int = 4096):
        monkeypatch.setattr(atomic.os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k), limit))

    return arm


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_full_disk_leaves_the_previous_file_intact(tmp_path, full_disk, writer):
    write, name = WRITERS[writer]
    path = tmp_path / name
    write(path, 1)
    before = path.read_bytes()
    full_disk(limit=4096)
    with pytest.raises(OSError, match="No space left") as err:
        write(path, 2)
    assert err.value.errno == errno.ENOSPC
    assert_one_line(err.value, str(path))  # the file, not the hidden .part (issue 25)
    assert ".part" not in str(err.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no .part left behind


def test_an_exception_mid_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    atomic.write_text(path, "old")
    with pytest.raises(RuntimeError), atomic.atomic_write(path, "w") as f:
        f.write("half of the new")
        raise RuntimeError("killed (simulated)")
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


# ------------------------------------------------------- messages name the target (issue 25)


def _failing(monkeypatch, target, name, err):
    """Make ``target.name`` raise ``err`` (an OSError about a hidden temporary file)."""

    def fail(*args, **kwargs):
        raise err

    monkeypatch.setattr(target, name, fail)


def _part(tmp, name):
    return str(tmp / f".{name}.{os.getpid()}.0123abcd.part")


def _lock_in(tmp, monkeypatch, target, name, code):
    err = OSError(code, os.strerror(code), _part(tmp, rundir.LOCK), str(tmp / rundir.LOCK))
    _failing(monkeypatch, target, name, err)
    with rundir.lock(tmp):
        pass


def _no_part_named(fragment):
    def check(message):
        assert fragment in message and ".part" not in message, message

    return check


TARGET_ROWS = [
    Row("atomic write into a missing folder", lambda tmp, mp: atomic.write_text(
        tmp / "no" / "summary.json", "{}"), FileNotFoundError, "no/summary.json'"),
    Row("atomic write onto a folder", lambda tmp, mp: atomic.write_text(
        (tmp / "d").mkdir() or tmp / "d", "{}"), IsADirectoryError, "Is a directory: '"),
    Row("atomic_path onto a folder", lambda tmp, mp: _gif((tmp / "a.gif").mkdir() or
        tmp / "a.gif"), IsADirectoryError, "a.gif'"),
    Row("run.lock: no hard links on this file system", lambda tmp, mp: _lock_in(
        tmp, mp, rundir.os, "link", errno.EPERM), rundir.RunDirError,
        "cannot create {tmp}/run.lock (Operation not permitted)"),
    Row("run.lock: a full disk", lambda tmp, mp: _lock_in(
        tmp, mp, Path, "write_text", errno.ENOSPC), rundir.RunDirError,
        "cannot create {tmp}/run.lock (No space left on device)"),
]  # fmt: skip


@pytest.mark.parametrize("row", params(TARGET_ROWS))
def test_an_error_names_the_target_not_the_temporary_file(tmp_path, monkeypatch, row):
    with pytest.raises(row.error) as err:
        row.call(tmp_path, monkeypatch)
    assert_one_line(err.value, row.match.format(tmp=tmp_path))
    assert ".part" not in str(err.value)
    assert not [p for p in tmp_path.rglob("*.part")]


# ------------------------------------------------------ hand-edited checkpoints (issue 25)


def _edited(out, edit, epochs=2):
    """A run of ``epochs`` epochs whose checkpoint is then edited: ``edit(arrays, meta)``."""
    run_fit(out, epochs=epochs)
    path = out / "checkpoint.npz"
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    edit(arrays, meta)
    arrays["meta"] = np.asarray(json.dumps(meta))
    np.savez(path, **arrays)
    return out


def _resume(out, epochs=3):
    return run_fit(out, epochs=epochs, resume=True).summary


def _set(key, value):
    return lambda arrays, meta: arrays.__setitem__(key, np.asarray(value))


def _params_to_float64(arrays, meta):
    for k in [k for k in arrays if k.startswith("params/")]:
        arrays[k] = arrays[k].astype(np.float64)


CHECKPOINT_ROWS = [
    Row("state step 0 with a history of 2 epochs", lambda tmp: _resume(_edited(
        tmp, _set("state/step", 0))), FileFormatError,
        "contradicts itself: the optimizer state is at step 0, but the history logged 4"),
    Row("float64 params in a float32 run", lambda tmp: _resume(_edited(tmp, _params_to_float64)),
        FileFormatError, "the params are float64, but the run was float32"),
    Row("epoch 3 with a history of 2", lambda tmp: _resume(_edited(tmp, _set("epoch", 3))),
        FileFormatError, "epoch 3, but its history holds epochs [1, 2]"),
    Row("history cut to 1 epoch", lambda tmp: _resume(_edited(
        tmp, lambda a, meta: meta["history"].pop())), FileFormatError,
        "epoch 2, but its history holds epochs [1]"),
    Row("seed edited in one of its two places", lambda tmp: _resume(_edited(
        tmp, lambda a, meta: meta.update(seed=5))), FileFormatError,
        "seed 5, but the run records seed 0"),
    Row("unedited checkpoint resumes", lambda tmp: _resume(_edited(tmp, lambda a, meta: None)),
        expect=lambda summary: summary["epochs"] == 3 or pytest.fail(summary)),
]  # fmt: skip


@pytest.mark.parametrize("row", params(CHECKPOINT_ROWS))
def test_a_checkpoint_that_contradicts_itself_is_refused(tmp_path, row):
    check(row, tmp_path)
    if row.error is not None:  # refused before the run wrote anything
        assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2


def _run_file_is_a_folder(out, name, **kwargs):
    """A finished 2-epoch run whose ``name`` is then a folder; the next run's error and
    the log before and after it."""
    run_fit(out, epochs=2)
    log = (out / "log.jsonl").read_text()
    (out / name).unlink()
    (out / name).mkdir()
    with pytest.raises(rundir.RunDirError) as err:
        run_fit(out, epochs=3, **kwargs)
    after = (out / "log.jsonl").read_text() if (out / "log.jsonl").is_file() else None
    return str(err.value), log, after, sorted(p.name for p in out.iterdir())


def _nothing_lost(name):
    def check_result(result):
        message, log, after, files = result
        assert f"{name} is a folder, not a file" in message and "\n" not in message, message
        assert after == log or name == "log.jsonl"  # log.jsonl: 2 lines, kept
        assert files == sorted(["checkpoint.npz", "log.jsonl", "summary.json"]), files

    return check_result


FOLDER_ROWS = [
    Row(f"{name} is a folder, {how}", lambda tmp, n=name, k=kwargs: _run_file_is_a_folder(
        tmp, n, **k), expect=_nothing_lost(name))
    for name in rundir.RUN_FILES
    for how, kwargs in [("resume", {"resume": True}), ("overwrite", {"overwrite": True}),
                        ("fresh", {})]
]  # fmt: skip


@pytest.mark.parametrize("row", params(FOLDER_ROWS))
def test_a_run_file_that_is_a_folder_loses_no_data(tmp_path, row):
    check(row, tmp_path)


def _diverge(out, optimizer):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning printed first would raise here
        run_fit(out, optimizer, epochs=2)


DIVERGENCE_ROWS = [
    Row(f"{name}(lr=1e30): no RuntimeWarning before the error", lambda tmp, o=make: _diverge(
        tmp, o()), train.TrainingDiverged, "training diverged in epoch 1")
    for name, make in [("SGD", lambda: optim.SGD(lr=1e30)),
                       ("MSAM", lambda: optim.MSAM(lr=1e30, rho=0.3)),
                       ("sam, unchecked steps", lambda: train.make_optimizer("sam", lr=1e30))]
]  # fmt: skip


@pytest.mark.parametrize("row", params(DIVERGENCE_ROWS))
def test_divergence_is_one_line_without_runtime_warnings(tmp_path, row):
    check(row, tmp_path)


# ----------------------------------------------------------------------------- stale .part files


def _stale(folder: Path, name: str, pid: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".{name}.{pid}.deadbeef.part"
    part.write_bytes(b"half a file")
    return part


def _gif(path: Path) -> None:
    with atomic.atomic_path(path) as tmp:  # for writers that want a file name
        tmp.write_bytes(b"GIF89a")


NEXT_RUNS = {
    # name: (the target file's name, the next run in that place)
    "checkpoint, by the next fit": ("checkpoint.npz", lambda d: run_fit(d, resume=True)),
    "state, by the next save_state": ("s.npz", lambda d: _state(d / "s.npz", 1)),
    "download, by the next write": ("t10k-labels-idx1-ubyte.gz",
                                    lambda d: _idx(d / "t10k-labels-idx1-ubyte.gz", 1)),
    "any file, by the next run in the folder": ("notes.txt", lambda d: run_fit(d, resume=True)),
    "a GIF, by the next write of it": ("a.gif", lambda d: _gif(d / "a.gif")),
}  # fmt: skip


@pytest.mark.parametrize("case", list(NEXT_RUNS))
def test_stale_part_files_are_cleaned_by_the_next_run(tmp_path, case):
    name, next_run = NEXT_RUNS[case]
    dead = _stale(tmp_path, name, DEAD_PID)
    live = _stale(tmp_path, name, os.getppid())  # a running process: maybe still writing
    other = tmp_path / "keep.part"  # not named like ours: never touched
    other.write_bytes(b"")
    next_run(tmp_path)
    assert not dead.exists()
    assert live.exists() and other.exists()


# ----------------------------------------------------------------------------- run folders


def test_a_finished_run_is_not_replaced_without_resume_or_overwrite(tmp_path):
    run_fit(tmp_path, epochs=2)
    log = (tmp_path / "log.jsonl").read_text()
    with pytest.raises(rundir.RunExistsError) as err:
        run_fit(tmp_path, epochs=1)
    assert_one_line(err.value, str(tmp_path), "already holds a run", "--resume", "--force")
    assert (tmp_path / "log.jsonl").read_text() == log  # untouched
    result = run_fit(tmp_path, epochs=1, overwrite=True)
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1
    assert result.summary["epochs"] == 1


def _lock_of(pid, host=None, started="2026-01-01 00:00:00 UTC"):
    import socket

    return {"pid": pid, "host": host or socket.gethostname(), "started": started}


LOCKS = [
    # (lock file content, fragment of the error, or None: the lock is stale and taken over)
    (_lock_of(os.getppid()), f"pid {os.getppid()}"),
    (_lock_of(os.getppid()), "started 2026-01-01 00:00:00 UTC"),
    (_lock_of(1234, host="another-machine"), "another-machine"),
    (_lock_of(DEAD_PID), None),
    ("not json", None),
]


@pytest.mark.parametrize("content, fragment", LOCKS)
def test_a_locked_folder_is_refused_and_a_stale_lock_taken_over(tmp_path, content, fragment):
    lock = tmp_path / rundir.LOCK
    lock.write_text(content if isinstance(content, str) else json.dumps(content))
    if fragment is None:
        run_fit(tmp_path)
        assert not lock.exists()  # taken over, then released at the end
        return
    with pytest.raises(rundir.RunLockedError) as err:
        run_fit(tmp_path)
    assert_one_line(err.value, str(tmp_path), "in use by another run", fragment)
    assert not (tmp_path / "log.jsonl").exists()


def test_a_second_run_into_the_same_folder_refuses_while_the_first_runs(tmp_path):
    refused = []

    def second_run(record, params, state):
        with pytest.raises(rundir.RunLockedError) as err:
            run_fit(tmp_path, resume=True)
        refused.append(str(err.value))

    run_fit(tmp_path, epochs=2, callbacks=[second_run])
    assert len(refused) == 2 and f"pid {os.getpid()}" in refused[0]
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / rundir.LOCK).exists()


def test_resume_says_where_it_starts(tmp_path, caplog):
    caplog.set_level("INFO", logger="minimsam.train")
    run_fit(tmp_path / "a", resume=True)
    assert f"no checkpoint in {tmp_path / 'a'}: starting fresh" in caplog.text
    run_fit(tmp_path / "a", epochs=2, resume=True)
    assert "resuming from epoch 1" in caplog.text


# ----------------------------------------------------------------------------- resume compares


def _function_lr(t):  # a schedule given as a plain function: compared by its values
    return 0.1


def _same_values(t):
    return 0.1


def _other_values(t):
    return 0.1 if t < 1 else 0.05


def _model(sizes):
    return nn.MLP(sizes)


BASE = {"optimizer": lambda: optim.SGD(lr=_function_lr, momentum=0.9), "data": DATA,
        "model": MODEL, "dtype": "float32", "batch_size": 32, "label_smoothing": 0.0,
        "seed": 0}  # fmt: skip

RESUMES = [
    # (what changes for the resumed run, the field the error names, or None: resumes)
    ({}, None),
    ({"optimizer": lambda: optim.SGD(lr=_same_values, momentum=0.9)}, None),
    ({"optimizer": lambda: optim.MSAM(lr=_function_lr, momentum=0.9, rho=0.3)},
     "optimizer.class"),
    ({"optimizer": lambda: optim.NAG(lr=_function_lr, momentum=0.9)}, "optimizer.class"),
    ({"optimizer": lambda: optim.SGD(lr=_other_values, momentum=0.9)}, "optimizer.lr"),
    ({"optimizer": lambda: optim.SGD(lr=0.1, momentum=0.9)}, "optimizer.lr"),
    ({"optimizer": lambda: optim.SGD(lr=_function_lr, momentum=0.8)}, "optimizer.momentum"),
    ({"optimizer": lambda: optim.SGD(lr=_function_lr, momentum=0.9, weight_decay=1e-4)},
     "optimizer.weight_decay"),
    ({"data": blobs(scale=2.0)}, "data.x_train"),  # same shapes, other values
    ({"dtype": "float64", "data": blobs(np.float64)}, "dtype"),
    ({"model": _model([6, 9, 3])}, "model"),
    ({"batch_size": 16}, "batch_size"),
    ({"label_smoothing": 0.1}, "label_smoothing"),
    ({"seed": 1}, "seed"),
]  # fmt: skip


@pytest.mark.parametrize("change, field", RESUMES)
def test_resume_compares_the_run_by_content(tmp_path, change, field):
    def go(epochs, resume, **over):
        s = {**BASE, **over}
        return run_fit(tmp_path, s["optimizer"](), epochs, model=s["model"], data=s["data"],
                       dtype=s["dtype"], batch_size=s["batch_size"], seed=s["seed"],
                       label_smoothing=s["label_smoothing"], resume=resume)  # fmt: skip

    go(1, False)
    if field is None:
        assert go(2, True, **change).summary["epochs"] == 2
        return
    with pytest.raises(ValueError, match="different run") as err:
        go(2, True, **change)
    assert_one_line(err.value, str(tmp_path / "checkpoint.npz"), field)
    assert json.loads((tmp_path / "summary.json").read_text())["run"]["dtype"] == "float32"


def test_a_longer_resumed_run_keeps_a_schedule_that_agrees_so_far(tmp_path):
    """Extending a run is allowed when the schedule gives the same values on the steps planned."""
    lr = schedules.linear(0.1, 0.0, steps=100)
    run_fit(tmp_path, optim.SGD(lr=lr), epochs=1)
    assert run_fit(tmp_path, optim.SGD(lr=lr), epochs=3, resume=True).summary["epochs"] == 3
    with pytest.raises(ValueError, match="optimizer.lr"):
        run_fit(tmp_path, optim.SGD(lr=schedules.linear(0.1, 0.0, steps=50)), 4, resume=True)


# ----------------------------------------------------------------------------- kill -9

KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from minimsam import nn, optim, train
    from minimsam.data import Dataset
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((256, 6)).astype(np.float32), rng.integers(0, 3, 256)
    ds = Dataset("noise", x, y, x[:32], y[:32], num_classes=3, input_shape=(6,))
    model = nn.MLP([6, 8, 3])
    slow = [lambda *a: time.sleep(float(sys.argv[2]))]
    opt = optim.MSAM(lr=optim.schedules.cosine(0.1, 64), rho=0.3, store_perturbed=True)
    result = train.fit(model, model.init(0), opt, ds, 8, batch_size=32, out_dir=sys.argv[1],
                       resume=True, step_callbacks=slow, progress=False)
    np.save(sys.argv[1] + "/final.npy", result.params["0.weight"])
    """
)


def test_kill_9_then_resume_is_bitwise_identical(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def start(out, delay):
        return subprocess.Popen([sys.executable, str(script), str(out), str(delay)], env=env)

    whole, split = tmp_path / "whole", tmp_path / "split"
    victim = start(split, 0.02)
    deadline = time.monotonic() + 60
    while not (split / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.15)  # somewhere in a later epoch, maybe inside a checkpoint write
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert (split / rundir.LOCK).exists()  # the killed run's lock: stale now
    assert start(split, 0).wait(timeout=120) == 0  # takes the lock over and resumes
    assert start(whole, 0).wait(timeout=120) == 0
    np.testing.assert_array_equal(np.load(split / "final.npy"), np.load(whole / "final.npy"))
    logs = [json.loads(line) for line in (split / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in logs] == list(range(1, 9))
    assert not [p for p in split.iterdir() if p.name.endswith(".part")]


def test_two_processes_into_one_folder_the_second_refuses_naming_the_first(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = tmp_path / "shared"
    argv = [sys.executable, str(script), str(out)]
    first = subprocess.Popen([*argv, "0.02"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / rundir.LOCK).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run([*argv, "0"], env=env, capture_output=True, text=True, timeout=120)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert second.returncode != 0
    assert "in use by another run" in second.stderr and f"pid {first.pid}" in second.stderr
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in logs] == list(range(1, 9))  # the first run's log, whole
