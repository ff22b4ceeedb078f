"""Output folders of training runs: one writer at a time, no run replaced by accident.

:func:`minimsam.train.fit` with an ``out_dir`` holds :func:`lock` on the folder while
it writes there, and calls :func:`check_reuse` before it starts:

- the lock is a file ``run.lock`` holding ``{"pid", "host", "started"}`` of the run
  that writes; a second run into the same folder refuses, naming the first. A lock
  left by a run that was killed (its pid no longer runs on this host) is taken over;
- a folder that already holds a run (a checkpoint, log or summary) is continued only
  with ``resume=True`` and replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from minimsam.atomic import pid_alive, remove_stale_parts

__all__ = [
    "LOCK",
    "RUN_FILES",
    "RunDirError",
    "RunExistsError",
    "RunLockedError",
    "check_reuse",
    "lock",
]

LOCK = "run.lock"
#: The files that make a folder hold a run (see :mod:`minimsam.train`).
RUN_FILES = ("checkpoint.npz", "log.jsonl", "summary.json")


class RunDirError(ValueError):
    """An output folder cannot be used for this run (a one-line reason)."""


class RunExistsError(RunDirError):
    """The folder holds a run already, and neither resume nor overwrite was asked."""


class RunLockedError(RunDirError):
    """Another live run writes to the folder."""


def check_reuse(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to start a new run over an old one unless ``resume`` or ``overwrite``.

    With ``overwrite`` the old run's files are deleted first, so a new run that stops
    early never leaves the old checkpoint next to the new log. A run file's name taken
    by something that is not a file (a folder called ``checkpoint.npz``) is refused
    first, before anything in the folder is written or deleted.
    """
    for name in RUN_FILES:
        if (out / name).exists() and not (out / name).is_file():
            raise RunDirError(
                f"{out / name} is a folder, not a file: a run writes its {name} there; "
                f"move it away, or choose another output folder"
            )
    present = [name for name in RUN_FILES if (out / name).exists()]
    if not present or resume:
        return
    if not overwrite:
        raise RunExistsError(
            f"{out} already holds a run ({', '.join(present)}): continue it with --resume "
            "(resume=True), replace it with --force (overwrite=True), or choose another folder"
        )
    for name in present:
        (out / name).unlink()


def _holder(path: Path) -> dict | None:
    """The lock file's content, or None if it is gone or unreadable."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _alive(info: dict | None) -> bool:
    """Whether the run that wrote ``info`` may still run (unknown hosts count as alive)."""
    if info is None:
        return False
    if info.get("host") != socket.gethostname():
        return True
    pid = info.get("pid")
    return isinstance(pid, int) and pid_alive(pid)


def _describe(info: dict | None, path: Path) -> str:
    if info is None:
        return f"an unreadable lock {path}"
    return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}"


def _acquire(out: Path) -> dict:
    """Create ``out/run.lock`` atomically (link of a complete file); take over a stale one."""
    path = out / LOCK
    mine = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "token": secrets.token_hex(8),
    }
    tmp = out / f".{LOCK}.{os.getpid()}.{mine['token']}.part"
    try:
        tmp.write_text(json.dumps(mine))
        return _link_lock(out, path, tmp, mine)
    except OSError as err:  # named by the lock, never by the hidden temporary file
        raise RunDirError(f"cannot lock {out}: cannot create {path} ({err.strerror})") from err
    finally:
        tmp.unlink(missing_ok=True)


def _link_lock(out: Path, path: Path, tmp: Path, mine: dict) -> dict:
    """Link the complete ``tmp`` to ``path``, taking over a stale lock (up to 5 tries)."""
    for _ in range(5):
        try:
            os.link(tmp, path)  # fails if the lock exists: no half-written lock is seen
            return mine
        except FileExistsError:
            pass
        info = _holder(path)
        if _alive(info):
            raise RunLockedError(
                f"{out} is in use by another run ({_describe(info, path)}): wait for it "
                f"to finish or choose another folder (if it is dead, remove {path})"
            )
        _take_over_stale(path, info)
    raise RunLockedError(f"could not lock {out}: {path} keeps changing")


def _take_over_stale(path: Path, seen: dict | None) -> None:
    """Move the stale lock aside; if it changed since it was read, put the new one back."""
    aside = path.with_name(f".{LOCK}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # someone else took it over first
    if _holder(aside) != seen:  # a live run locked in between: give its lock back
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
    aside.unlink(missing_ok=True)


def _release(out: Path, mine: dict) -> None:
    path = out / LOCK
    if _holder(path) == mine:
        path.unlink(missing_ok=True)


@contextmanager
def lock(out: str | os.PathLike) -> Iterator[Path]:
    """Hold ``out``'s lock (creating the folder) while the block runs; yields the folder.

    Also removes the temporary files that killed writers left in the folder.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"cannot create the output folder {out} ({err.strerror})") from err
    mine = _acquire(out)
    try:
        remove_stale_parts(out)
        yield out
    finally:
        _release(out, mine)
