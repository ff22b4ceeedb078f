"""Atomic file writes: a file is either its old content or its complete new content.

Every file minimsam writes (optimizer states, checkpoints, logs, summaries, figures,
dataset downloads and caches) goes through :func:`atomic_write`::

    with atomic_write("runs/a/summary.json", "w") as f:
        f.write(text)

The data goes to a temporary file ``.<name>.<pid>.<random>.part`` in the same
directory; on success it is flushed, ``fsync``-ed and renamed over ``<name>`` with
``os.replace`` (atomic on one file system). On any exception, a full disk included,
the temporary file is removed and ``<name>`` keeps its previous content; an ``OSError``
of the write (``ENOSPC``, a folder named ``<name>``, a missing folder) names ``<name>``,
never the temporary file.

A process killed with ``kill -9`` cannot remove its temporary file. The next
:func:`atomic_write` to the same name, and :func:`remove_stale_parts` on the folder,
delete temporary files whose process (the ``<pid>`` in the name) no longer runs.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = [
    "atomic_path",
    "atomic_write",
    "pid_alive",
    "remove_stale_parts",
    "write_bytes",
    "write_text",
]

_PART = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.part(\.[A-Za-z0-9]+)?$")


def pid_alive(pid: int) -> bool:
    """True if a process with id ``pid`` runs on this machine (signal 0 probes it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        return True
    except OSError:
        return False
    return True


def remove_stale_parts(directory: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete the temporary files left in ``directory`` by killed writers; return them.

    Only files named like :func:`atomic_write`'s (``.<name>.<pid>.<hex>.part``) whose
    process has ended are removed; with ``name`` only those of that target file.
    A folder that does not exist or cannot be listed has nothing to clean.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _PART.match(entry.name)
        if not match or (name is not None and match["name"] != name):
            continue
        if pid_alive(int(match["pid"])):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass  # another process cleaned it first, or it is not ours to remove
    return removed


def _temporary(path: Path, suffix: str = "") -> Path:
    remove_stale_parts(path.parent, path.name)
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part{suffix}"


def _naming_the_target(err: OSError, tmp: Path, path: Path) -> OSError:
    """``err`` of a system call on the temporary file, retold about ``path``, the file
    the caller asked for (the hidden ``.part`` name means nothing to them); ``err`` itself
    if it is about something else (a download error, another file)."""
    if err.errno is None or err.filename not in (None, str(tmp)):
        return err
    return OSError(err.errno, err.strerror, str(path))  # "[Errno 28] No space ...: 'path'"


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", fsync: bool = True) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically.

    ``mode`` is ``"wb"`` (bytes) or ``"w"`` (UTF-8 text). ``fsync=True`` forces the data
    to the disk before the rename, so a power cut cannot leave an empty file either.
    The new file gets the usual permissions (0666 less the umask). Stale temporary
    files of earlier, killed writers of ``path`` are removed first.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    tmp = _temporary(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise _naming_the_target(err, tmp, path) from err
    try:
        encoding = "utf-8" if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a folder in the way: named by the target
        tmp.unlink(missing_ok=True)
        raise _naming_the_target(err, tmp, path) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) for writers that want a file name.

    For libraries that open the file themselves (``anim.save(name)``): write to the
    yielded path; on success it replaces ``path`` atomically, on an exception it is
    removed. Prefer :func:`atomic_write` where a file object will do.
    """
    path = Path(path)
    tmp = _temporary(path, path.suffix)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _naming_the_target(err, tmp, path) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """``Path(path).write_bytes(data)``, atomically; returns the path."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``Path(path).write_text(text)`` (UTF-8), atomically; returns the path."""
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)
