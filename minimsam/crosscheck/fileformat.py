"""Write and read golden cases: ``manifest.json`` plus one ``<case>.npz`` per case.

The format is documented for readers without minimsam in ``FORMAT.md`` next to this
file. Writing is deterministic: the same cases give the same bytes. ``np.savez``
stamps every zip entry with the current time, so the ``.npz`` files are written here
with :mod:`zipfile`, a fixed timestamp, no compression and sorted keys; each entry
is a standard ``.npy`` file, so ``np.load`` reads them as usual.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from minimsam.atomic import write_bytes, write_text
from minimsam.crosscheck.case import Case, Trajectory

__all__ = ["FORMAT", "VERSION", "load_cases", "read_manifest", "write_cases", "write_npz"]

FORMAT, VERSION = "minimsam-crosscheck", 1
MANIFEST = "manifest.json"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` as an ``.npz`` with fixed metadata; return its SHA-256 (hex)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16  # rw-r--r--, whatever the umask
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            archive.writestr(info, member.getvalue())
    data = buffer.getvalue()
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _trajectory_arrays(prefix: str, trajectory: Trajectory) -> dict[str, np.ndarray]:
    arrays = {
        f"{prefix}/loss": trajectory.loss,
        f"{prefix}/grad_evals": trajectory.grad_evals,
        f"{prefix}/eval_losses": trajectory.eval_losses,
    }
    for name in trajectory.params:
        arrays[f"{prefix}/params/{name}"] = trajectory.params[name]
        arrays[f"{prefix}/eval_points/{name}"] = trajectory.eval_points[name]
        arrays[f"{prefix}/eval_grads/{name}"] = trajectory.eval_grads[name]
    return arrays


def _case_arrays(case: Case) -> dict[str, np.ndarray]:
    arrays = {f"init/{k}": np.asarray(v, dtype=np.float64) for k, v in case.init.items()}
    arrays.update({f"batch/{k}": np.asarray(v) for k, v in case.batches.items()})
    if case.reference is not None:
        arrays.update(_trajectory_arrays("reference", case.reference))
    return arrays


def _case_entry(case: Case, file: str, sha256: str, arrays: dict[str, np.ndarray]) -> dict:
    return {
        "name": case.name,
        "optimizer": case.optimizer,
        "description": case.description,
        "pitfalls": list(case.pitfalls),
        "file": file,
        "sha256": sha256,
        "steps": case.steps,
        "model": case.model,
        "params": [{"name": k, "shape": list(v.shape)} for k, v in case.init.items()],
        "hyperparameters": case.hyperparameters,
        "schedule": {"lr": list(case.lr), "rho": None if case.rho is None else list(case.rho)},
        "restore_before_step": case.restore_before_step,
        "arrays": {k: {"shape": list(a.shape), "dtype": str(a.dtype)} for k, a in arrays.items()},
    }


def write_cases(cases: list[Case], out_dir: str | Path) -> Path:
    """Write ``cases`` into ``out_dir`` (created if needed); return the manifest's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for case in cases:
        arrays = _case_arrays(case)
        file = f"{case.name}.npz"
        entries.append(_case_entry(case, file, write_npz(out_dir / file, arrays), arrays))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": "float64",
        "documentation": "minimsam/crosscheck/FORMAT.md",
        "cases": entries,
    }
    path = out_dir / MANIFEST
    write_text(path, json.dumps(manifest, indent=1) + "\n")
    return path


def read_manifest(directory: str | Path) -> dict:
    """The parsed ``manifest.json`` of ``directory``, after checking format and version."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {directory}: run `minimsam crosscheck export`")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(
            f"{path} is not a {FORMAT} manifest of version {VERSION} "
            f"(format {manifest.get('format')!r}, version {manifest.get('version')!r})"
        )
    return manifest


def _read_trajectory(data, prefix: str, names: list[str]) -> Trajectory:
    return Trajectory(
        params={k: data[f"{prefix}/params/{k}"] for k in names},
        loss=data[f"{prefix}/loss"],
        grad_evals=data[f"{prefix}/grad_evals"],
        eval_points={k: data[f"{prefix}/eval_points/{k}"] for k in names},
        eval_losses=data[f"{prefix}/eval_losses"],
        eval_grads={k: data[f"{prefix}/eval_grads/{k}"] for k in names},
    )


def _read_case(directory: Path, entry: dict) -> Case:
    path = directory / entry["file"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        raise ValueError(f"{path}: SHA-256 {digest} does not match the manifest's")
    names = [p["name"] for p in entry["params"]]
    with np.load(path, allow_pickle=False) as data:
        batches = {k[len("batch/") :]: data[k] for k in data.files if k.startswith("batch/")}
        reference = _read_trajectory(data, "reference", names) if "reference/loss" in data else None
        init = {k: data[f"init/{k}"] for k in names}
    return Case(
        name=entry["name"],
        optimizer=entry["optimizer"],
        description=entry["description"],
        model=entry["model"],
        hyperparameters=entry["hyperparameters"],
        lr=entry["schedule"]["lr"],
        rho=entry["schedule"]["rho"],
        restore_before_step=entry["restore_before_step"],
        init=init,
        batches=batches,
        reference=reference,
        pitfalls=list(entry["pitfalls"]),
    )


def load_cases(
    directory: str | Path, optimizer: str | None = None, names: list[str] | None = None
) -> list[Case]:
    """The cases in ``directory`` (optionally of one optimizer, or only the named ones)."""
    directory = Path(directory)
    entries = read_manifest(directory)["cases"]
    if optimizer is not None:
        entries = [e for e in entries if e["optimizer"] == optimizer]
    if names is not None:
        unknown = set(names) - {e["name"] for e in entries}
        if unknown:
            raise ValueError(f"no case named {sorted(unknown)} in {directory}")
        entries = [e for e in entries if e["name"] in names]
    return [_read_case(directory, e) for e in entries]
