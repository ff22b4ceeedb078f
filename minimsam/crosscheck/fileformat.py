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

__all__ = [
    "FORMAT",
    "VERSION",
    "load_cases",
    "read_manifest",
    "read_trajectories",
    "select_cases",
    "write_cases",
    "write_npz",
    "write_trajectories",
]

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
    for name, values in trajectory.stats.items():  # batch norm only (optional keys)
        arrays[f"{prefix}/stats/{name}"] = values
    for buffer, tree in trajectory.buffers.items():  # optional: the optimizer's state
        arrays.update({f"{prefix}/buffers/{buffer}/{k}": v for k, v in tree.items()})
    if trajectory.eval_logits is not None:
        arrays[f"{prefix}/eval_logits"] = trajectory.eval_logits
    return arrays


def _case_arrays(case: Case) -> dict[str, np.ndarray]:
    arrays = {f"init/{k}": np.asarray(v, dtype=np.float64) for k, v in case.init.items()}
    arrays.update({f"batch/{k}": np.asarray(v) for k, v in case.batches.items()})
    arrays.update(
        {f"init_stats/{k}": np.asarray(v, np.float64) for k, v in case.init_stats.items()}
    )
    if case.reference is not None:
        arrays.update(_trajectory_arrays("reference", case.reference))
    return arrays


def _case_entry(case: Case, file: str, sha256: str, arrays: dict[str, np.ndarray]) -> dict:
    entry = {
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
    if case.has_stats:  # batch norm only (optional keys, FORMAT.md "Batch norm")
        entry["stats"] = [{"name": k, "shape": list(v.shape)} for k, v in case.init_stats.items()]
        entry["reestimate_batches"] = case.reestimate_batches
    return entry


def _mutant_entries(cases: list[Case], out_dir: Path) -> list[dict]:
    """Write every mutant's trajectories (a trajectory file per mutant) under ``mutants/``."""
    from minimsam.crosscheck.compare import mutant_trajectory
    from minimsam.crosscheck.mutants import mutants_for

    entries = []
    for optimizer in dict.fromkeys(c.optimizer for c in cases):
        own = [c for c in cases if c.optimizer == optimizer]
        for mutant in mutants_for(optimizer, kind=None):
            usable = [c for c in own if mutant.applies_to(c)]
            if not usable:
                continue
            runs = {c.name: mutant_trajectory(c, mutant) for c in usable}
            file = f"mutants/{optimizer}/{mutant.name}.npz"
            (out_dir / file).parent.mkdir(parents=True, exist_ok=True)
            digest = write_trajectories(out_dir / file, runs)
            entries.append(
                {
                    "optimizer": optimizer,
                    "name": mutant.name,
                    "pitfall": mutant.pitfall,
                    "kind": mutant.kind,
                    "detail": mutant.detail,
                    "file": file,
                    "sha256": digest,
                    "cases": list(runs),
                }
            )
    return entries


def write_cases(cases: list[Case], out_dir: str | Path, with_mutants: bool = False) -> Path:
    """Write ``cases`` into ``out_dir`` (created if needed); return the manifest's path.

    ``with_mutants``: also write each mutant's trajectories on the cases, one trajectory
    file per mutant (``mutants/<optimizer>/<mutant>.npz``), listed in the manifest.
    """
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
    if with_mutants:
        manifest["mutants"] = _mutant_entries(cases, out_dir)
    path = out_dir / MANIFEST
    write_text(path, json.dumps(manifest, indent=1) + "\n")
    return path


# ----------------------------------------------------------------------------- trajectory files


def write_trajectories(
    path: str | Path, trajectories: dict[str, Trajectory], errors: dict[str, str] | None = None
) -> str:
    """Write a trajectory file (FORMAT.md): ``{case name: trajectory}``; return its SHA-256."""
    arrays = {}
    for name, trajectory in trajectories.items():
        arrays.update(_trajectory_arrays(name, trajectory))
        if errors and errors.get(name):
            arrays[f"{name}/error"] = np.array(errors[name])
    return write_npz(Path(path), arrays)


def read_trajectories(
    path: str | Path, cases: list[Case]
) -> dict[str, tuple[Trajectory, str | None]]:
    """The trajectories in a trajectory file, for the given cases it holds.

    Returns ``{case name: (trajectory, error or None)}`` in the order of ``cases``.
    Each case found must have ``params/<p>`` for every param, ``eval_points/<p>`` and
    ``eval_losses``; ``grad_evals`` defaults to ``E`` (the width of ``eval_losses``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trajectory file {path}")
    by_name = {c.name: c for c in cases}
    with np.load(path, allow_pickle=False) as data:
        grouped: dict[str, dict[str, np.ndarray]] = {}
        for key in data.files:
            name, _, rest = key.partition("/")  # "case/rest" (a case name holds no "/")
            if name in by_name:
                grouped.setdefault(name, {})[rest] = data[key]
    if not grouped:
        raise ValueError(f"{path} holds none of the cases {sorted(by_name)} (keys 'CASE/params/P')")
    return {
        name: _trajectory_from(path, by_name[name], grouped[name])
        for name in by_name
        if name in grouped
    }


def _trajectory_from(path, case: Case, arrays: dict) -> tuple[Trajectory, str | None]:
    names = list(case.init)
    need = [f"params/{k}" for k in names] + [f"eval_points/{k}" for k in names] + ["eval_losses"]
    missing = [k for k in need if k not in arrays]
    if missing:
        raise ValueError(f"{path}: case {case.name!r} lacks {', '.join(missing)}")
    losses = np.asarray(arrays["eval_losses"], dtype=np.float64)
    if losses.ndim == 1:
        losses = losses[:, None]
    default_evals = np.full(len(losses), losses.shape[1])  # a NaN loss is still an evaluation
    points = {k: np.asarray(arrays[f"eval_points/{k}"], dtype=np.float64) for k in names}
    grads = {
        k: np.asarray(arrays.get(f"eval_grads/{k}", np.full(points[k].shape, np.nan)), float)
        for k in names
    }
    buffers: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith("buffers/") and key.count("/") >= 2:
            buffer, param = key[len("buffers/") :].split("/", 1)
            buffers.setdefault(buffer, {})[param] = np.asarray(value, dtype=np.float64)
    buffers = {b: tree for b, tree in buffers.items() if set(tree) == set(names)}
    stats, logits = _stats_from(path, case, arrays)
    trajectory = Trajectory(
        params={k: np.asarray(arrays[f"params/{k}"], dtype=np.float64) for k in names},
        loss=np.asarray(arrays.get("loss", losses[:, 0]), dtype=np.float64),
        grad_evals=np.asarray(arrays.get("grad_evals", default_evals), dtype=np.int64),
        eval_points=points,
        eval_losses=losses,
        eval_grads=grads,
        buffers=buffers,
        stats=stats,
        eval_logits=logits,
    )
    error = arrays.get("error")
    return trajectory, (None if error is None else str(np.asarray(error).reshape(-1)[0]))


def _stats_from(path, case: Case, arrays: dict) -> tuple[dict, np.ndarray | None]:
    """A batch-norm case's ``stats/<name>`` and ``eval_logits``: required there, since
    only they show the batch-norm pitfalls; ignored for other cases."""
    if not case.has_stats:
        return {}, None
    need = [f"stats/{k}" for k in case.init_stats] + ["eval_logits"]
    missing = [k for k in need if k not in arrays]
    if missing:
        raise ValueError(
            f"{path}: case {case.name!r} has batch norm and lacks {', '.join(missing)} "
            "(FORMAT.md, 'Batch norm')"
        )
    stats = {k: np.asarray(arrays[f"stats/{k}"], dtype=np.float64) for k in case.init_stats}
    return stats, np.asarray(arrays["eval_logits"], dtype=np.float64)


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


def _checked(directory: Path, entry: dict) -> Path:
    """The path of a manifest entry's file, after checking its SHA-256."""
    path = directory / entry["file"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        raise ValueError(f"{path}: SHA-256 {digest} does not match the manifest's")
    return path


def _read_mutants(directory: Path, manifest: dict, cases: list[Case]) -> None:
    """Attach the shipped mutant trajectories to ``cases`` (``case.mutants[name]``)."""
    for entry in manifest.get("mutants", []):
        own = [c for c in cases if c.optimizer == entry["optimizer"] and c.name in entry["cases"]]
        if not own:
            continue
        for name, (trajectory, _) in read_trajectories(_checked(directory, entry), own).items():
            next(c for c in own if c.name == name).mutants[entry["name"]] = trajectory


def _read_case(directory: Path, entry: dict) -> Case:
    path = _checked(directory, entry)
    names = [p["name"] for p in entry["params"]]
    stat_names = [s["name"] for s in entry.get("stats", [])]  # batch norm only
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    case = Case(
        name=entry["name"],
        optimizer=entry["optimizer"],
        description=entry["description"],
        model=entry["model"],
        hyperparameters=entry["hyperparameters"],
        lr=entry["schedule"]["lr"],
        rho=entry["schedule"]["rho"],
        restore_before_step=entry["restore_before_step"],
        init={k: arrays[f"init/{k}"] for k in names},
        batches={k[len("batch/") :]: v for k, v in arrays.items() if k.startswith("batch/")},
        pitfalls=list(entry["pitfalls"]),
        init_stats={k: arrays[f"init_stats/{k}"] for k in stat_names},
        reestimate_batches=int(entry.get("reestimate_batches", 0)),
    )
    if "reference/loss" in arrays:
        prefix = len("reference/")
        own = {k[prefix:]: v for k, v in arrays.items() if k.startswith("reference/")}
        case.reference = _trajectory_from(path, case, own)[0]
    return case


def load_cases(
    directory: str | Path, optimizer: str | None = None, names: list[str] | None = None
) -> list[Case]:
    """The cases in ``directory`` (optionally of one optimizer, or only the named ones)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    entries = manifest["cases"]
    if optimizer is not None:
        entries = [e for e in entries if e["optimizer"] == optimizer]
    if names is not None:
        unknown = set(names) - {e["name"] for e in entries}
        if unknown:
            raise ValueError(f"no case named {sorted(unknown)} in {directory}")
        entries = [e for e in entries if e["name"] in names]
    cases = [_read_case(directory, e) for e in entries]
    _read_mutants(directory, manifest, cases)
    return cases


def select_cases(
    cases: str | Path | list[Case], optimizer: str | None = None, names: list[str] | None = None
) -> list[Case]:
    """The cases of ``optimizer`` (all if None), only the ``names`` if given, from a folder
    written by export (:func:`load_cases`) or a list of cases."""
    if isinstance(cases, (str, Path)):
        return load_cases(cases, optimizer, names)
    return [c for c in cases if optimizer in (None, c.optimizer) and (not names or c.name in names)]
