"""Saving and loading optimizer states and checkpoints as ``.npz`` files.

One layout serves :func:`save_state` (``optim.save_state``) and the checkpoints of
:mod:`minimsam.train`. A state ``{"step": int, <buffer>: {param name: array}, ...}``
is flattened to arrays keyed::

    step                the step count (0-d int64); any other non-dict entry alike
    <buffer>/<name>     one array of a buffer (buffer names never contain "/",
                        parameter names may)

Files are written atomically (:mod:`minimsam.atomic`) from host copies; arrays are read
back onto the active backend, 0-d integers as Python ints. Nothing is pickled.

Every file that cannot be read as what it should be (empty, truncated, corrupt, text,
a single ``.npy``, an ``.npz`` of something else, the state of another optimizer)
raises :class:`FileFormatError`, one line naming the file and what is wrong.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from minimsam.atomic import atomic_write
from minimsam.backend import asarray, to_numpy

__all__ = [
    "FileFormatError",
    "check_state_for",
    "flatten_state",
    "load_npz",
    "load_state",
    "save_npz",
    "save_state",
    "unflatten_state",
]

#: Key of the optimizer's class name in a state file written with ``optimizer=``.
OPTIMIZER_KEY = "__optimizer__"


class FileFormatError(ValueError):
    """A state or checkpoint file is unreadable, or holds something other than expected."""


# ----------------------------------------------------------------------------- flattening


def flatten_state(state: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """``{prefix + "step": ..., prefix + "<buffer>/<name>": ...}`` as host arrays."""
    flat: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if not isinstance(key, str) or "/" in key:
            raise ValueError(f"state key {key!r} must be a string without '/'")
        if isinstance(value, Mapping):
            flat.update({f"{prefix}{key}/{k}": to_numpy(v) for k, v in value.items()})
        else:
            flat[prefix + key] = np.asarray(to_numpy(value))
    return flat


def unflatten_state(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The inverse of :func:`flatten_state` (without prefix), onto the active backend."""
    state: dict[str, Any] = {}
    for flat_key, x in arrays.items():
        key, sep, name = flat_key.partition("/")
        if sep:
            state.setdefault(key, {})[name] = asarray(x)
        elif x.ndim == 0 and np.issubdtype(x.dtype, np.integer):
            state[key] = int(x)
        else:
            state[key] = asarray(x)
    return state


# ----------------------------------------------------------------------------- .npz files


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to an uncompressed ``.npz`` at ``path``, atomically."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _describe_start(head: bytes) -> str | None:
    """Why bytes starting with ``head`` are not an ``.npz`` archive (None if they may be)."""
    if not head:
        return "the file is empty"
    if head.startswith(b"PK"):
        return None
    if head.startswith(b"\x93NUMPY"):
        return "it is a single .npy array, not an .npz archive"
    return f"it is not an .npz (zip) archive: it starts with {head[:8]!r}, not b'PK'"


def load_npz(path: str | os.PathLike, what: str = "file") -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, read into host memory.

    ``what`` names the file's role in messages (``"optimizer state"``, ``"checkpoint"``).
    Raises ``FileNotFoundError`` if there is no file, :class:`FileFormatError` if it
    cannot be read completely.
    """
    path = Path(path)
    if path.is_dir():
        raise FileFormatError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path}: no such file")
    with open(path, "rb") as f:
        reason = _describe_start(f.read(8))
    if reason is not None:
        raise FileFormatError(f"{what} {path} is unreadable: {reason}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as err:
        if "pickle" in str(err):
            reason = "it holds pickled Python objects, which minimsam never writes"
        else:
            reason = f"a corrupt array ({err})"
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        reason = f"corrupt or truncated .npz archive ({err})"
    except Exception as err:  # zlib.error, struct.error, MemoryError from a bad header...
        reason = f"corrupt .npz archive ({err or type(err).__name__})"
    raise FileFormatError(" ".join(f"{what} {path} is unreadable: {reason}".split()))


# ----------------------------------------------------------------------------- states


def save_state(path: str | os.PathLike, state: Mapping[str, Any], optimizer: Any = None) -> None:
    """Write an optimizer state to ``path`` (an ``.npz`` file), atomically.

    With ``optimizer`` its class name is stored too, so :func:`load_state` can refuse
    to hand the state to another optimizer; a state that is not one of ``optimizer``
    (other buffers) is refused before anything is written. Host copies are written; the state on the
    device is not moved. A crash or a full disk while writing leaves the previous file.
    """
    if optimizer is not None:  # the file will say whose state it is: make sure it is
        check_state_for(optimizer, state, f"the state to save to {path}")
    flat = flatten_state(state)
    if optimizer is not None:
        flat[OPTIMIZER_KEY] = np.asarray(type(optimizer).__name__)
    save_npz(path, flat)


def load_state(path: str | os.PathLike, optimizer: Any = None) -> dict[str, Any]:
    """Read a state written by :func:`save_state` onto the active backend.

    0-d integer entries (the step count) come back as Python ints; arrays go to the
    device. With ``optimizer``, the state must be one of that optimizer (the class
    recorded in the file, if any, and the buffer names): see :func:`check_state_for`.
    """
    arrays = load_npz(path, "optimizer state")
    saved_by = arrays.pop(OPTIMIZER_KEY, None)
    state = unflatten_state(arrays)
    _check_step(state, f"optimizer state {path}")
    if optimizer is not None:
        if saved_by is not None and str(saved_by) != type(optimizer).__name__:
            raise FileFormatError(
                f"optimizer state {path} was saved by {saved_by}, "
                f"it cannot be loaded into {type(optimizer).__name__}"
            )
        check_state_for(optimizer, state, f"optimizer state {path}")
    return state


def _check_step(state: Mapping[str, Any], what: str) -> None:
    step = state.get("step")
    if "epoch" in state and "meta" in state:
        raise FileFormatError(
            f"{what} is a training checkpoint, not an optimizer state: read it with "
            "train.load_checkpoint"
        )
    if not isinstance(step, int) or step < 0:
        found = ", ".join(sorted(state)) or "nothing"
        raise FileFormatError(
            f"{what} is not an optimizer state: it needs a step count 'step' (an integer "
            f">= 0), found {'step=' + repr(step) if 'step' in state else found}"
        )


def check_state_for(optimizer: Any, state: Mapping[str, Any], what: str = "the state") -> None:
    """Raise :class:`FileFormatError` unless ``state`` has the entries ``optimizer`` keeps.

    The expected entries are those of ``optimizer.init(params)`` for params shaped like
    the state's own buffers, so the state of SGD given to AdamW is refused here rather
    than failing inside a step.
    """
    template = next((b for b in state.values() if isinstance(b, Mapping) and b), None)
    if template is None:
        template = {"w": asarray(np.zeros(1))}
    expected = set(optimizer.init(dict(template)))
    if set(state) != expected:
        name = type(optimizer).__name__
        raise FileFormatError(
            f"{what} does not belong to {name}: it holds {sorted(state)}, {name} keeps "
            f"{sorted(expected)} (a state of another optimizer, or other settings?)"
        )
