"""A golden case and a trajectory: the data a cross-check compares, as host float64 arrays.

A :class:`Case` is one small problem with one optimizer setting, fully described by
data (FORMAT.md): the model, its initial params, one batch per step, the constant
hyperparameters, the per-step ``lr`` and ``rho`` values, and the step before which
the optimizer state is saved and restored. Its ``reference`` is the
:class:`Trajectory` that ``minimsam.optim`` produces on it.

A :class:`Trajectory` records, for every step ``t = 0 .. T-1``:

- ``params[name][t]``: the unperturbed params ``w_{t+1}`` after step ``t``;
- ``loss[t]``: the loss of the step's first gradient evaluation;
- ``grad_evals[t]``: the number of gradient evaluations (1, or 2 for SAM);
- ``eval_points[name][t, e]``, ``eval_losses[t, e]``, ``eval_grads[name][t, e]``: the
  point, loss and gradient of evaluation ``e`` (NaN where a step made fewer).

A case whose model has batch norm (``case.init_stats`` not empty) also records

- ``stats[name][t]``: the running statistics after step ``t`` (``"1.running_mean"``, ...);
- ``eval_logits``: the evaluation-mode logits on the case's evaluation batch after the
  last step, at the unperturbed params, after re-estimating the statistics over the
  case's ``reestimate_batches`` (if any).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["OPTIMIZERS", "Case", "Recorder", "Trajectory"]

OPTIMIZERS: dict[str, tuple[str, ...]] = {
    # optimizer name -> its constant hyperparameters (lr, and rho where used, are per step)
    "sgd": ("momentum", "weight_decay", "nesterov"),
    "nag": ("momentum", "weight_decay"),
    "sam": ("momentum", "weight_decay"),
    "msam": ("momentum", "weight_decay"),
    "adamw": ("betas", "eps", "weight_decay"),
    "adamw-msam": ("betas", "eps", "weight_decay"),
}
USES_RHO = ("sam", "msam", "adamw-msam")


@dataclass
class Trajectory:
    """What one run of an optimizer over a case produced (see the module docstring)."""

    params: dict[str, np.ndarray]
    loss: np.ndarray
    grad_evals: np.ndarray
    eval_points: dict[str, np.ndarray]
    eval_losses: np.ndarray
    eval_grads: dict[str, np.ndarray]
    # optional: the optimizer's params-shaped state buffers after every step,
    # {buffer name: {param: (T, *shape)}}; used to recognise perturbed params
    buffers: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    # batch norm only: running statistics {name: (T, C)} and the final evaluation logits
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    eval_logits: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return len(self.loss)


@dataclass
class Case:
    """One golden case (see the module docstring and FORMAT.md)."""

    name: str
    optimizer: str
    description: str
    model: dict
    hyperparameters: dict
    lr: list[float]
    rho: list[float] | None
    restore_before_step: int | None
    init: dict[str, np.ndarray]
    batches: dict[str, np.ndarray]
    reference: Trajectory | None = None
    pitfalls: list[str] = field(default_factory=list)
    # trajectories of the mutants (by mutant name), when read from an exported catalogue
    mutants: dict[str, Trajectory] = field(default_factory=dict)
    # batch norm only: the initial running statistics ({} without batch norm), and how
    # many of the batches ``batches["reestimate_x"]`` re-estimate them before evaluation
    init_stats: dict[str, np.ndarray] = field(default_factory=dict)
    reestimate_batches: int = 0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; known: {list(OPTIMIZERS)}")
        if (self.rho is not None) != (self.optimizer in USES_RHO):
            raise ValueError(f"case {self.name!r}: rho values are given iff the optimizer uses rho")
        if self.rho is not None and len(self.rho) != len(self.lr):
            raise ValueError(f"case {self.name!r}: one rho value per step, like lr")

    @property
    def steps(self) -> int:
        return len(self.lr)

    @property
    def has_stats(self) -> bool:
        """Whether the model has batch norm (running statistics are part of the trajectory)."""
        return bool(self.init_stats)

    def constants(self) -> dict:
        """The constant hyperparameters as keywords (``betas`` a tuple, as optimizers take it)."""
        out = dict(self.hyperparameters)
        if "betas" in out:
            out["betas"] = tuple(out["betas"])
        return out

    def hyperparameters_at(self, t: int) -> dict[str, float]:
        """``{"lr": lr[t], "rho": rho[t]}`` (no ``rho`` for optimizers without one)."""
        values = {"lr": self.lr[t]}
        if self.rho is not None:
            values["rho"] = self.rho[t]
        return values


class Recorder:
    """Collects a trajectory step by step; :meth:`trajectory` stacks it into arrays."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.params: list[dict[str, np.ndarray]] = []
        self.evals: list[list[tuple[dict, float, dict]]] = []
        self.buffers: list[dict[str, dict[str, np.ndarray]]] = []
        self.stats: list[dict[str, np.ndarray]] = []
        self.eval_logits: np.ndarray | None = None

    def start_step(self) -> None:
        self.evals.append([])

    def evaluation(self, point: dict, loss: float, grads: dict) -> None:
        """One gradient evaluation of the current step (host float64 copies are kept)."""
        copy = {k: np.array(point[k], dtype=np.float64) for k in self.names}
        g = {k: np.array(grads[k], dtype=np.float64) for k in self.names}
        self.evals[-1].append((copy, float(loss), g))

    def end_step(self, params: dict, buffers: dict | None = None, stats: dict | None = None):
        """The unperturbed params after the step (and, optionally, the optimizer's
        params-shaped state buffers ``{buffer name: {param: array}}`` and the model's
        running statistics ``{name: array}``)."""
        self.params.append({k: np.array(params[k], dtype=np.float64) for k in self.names})
        self.buffers.append(buffers or {})
        self.stats.append({k: np.array(v, dtype=np.float64) for k, v in (stats or {}).items()})

    def evaluation_logits(self, logits) -> None:
        """The evaluation-mode logits after the last step (batch-norm cases)."""
        self.eval_logits = np.array(logits, dtype=np.float64)

    def trajectory(self) -> Trajectory:
        steps = len(self.params)
        width = max([len(e) for e in self.evals] + [1])
        shapes = {k: self.params[0][k].shape for k in self.names} if steps else {}
        points = {k: np.full((steps, width, *s), np.nan) for k, s in shapes.items()}
        grads = {k: np.full((steps, width, *s), np.nan) for k, s in shapes.items()}
        losses = np.full((steps, width), np.nan)
        for t, evals in enumerate(self.evals[:steps]):
            for e, (point, loss, g) in enumerate(evals):
                losses[t, e] = loss
                for k in self.names:
                    points[k][t, e], grads[k][t, e] = point[k], g[k]
        return Trajectory(
            params={k: np.stack([p[k] for p in self.params]) for k in shapes},
            loss=losses[:, 0].copy(),
            grad_evals=np.array([len(e) for e in self.evals[:steps]], dtype=np.int64),
            eval_points=points,
            eval_losses=losses,
            eval_grads=grads,
            buffers=self._stacked_buffers(self.buffers[:steps]),
            stats={k: np.stack([s[k] for s in self.stats]) for k in _on_every(self.stats)},
            eval_logits=self.eval_logits,
        )

    def _stacked_buffers(self, recorded: list[dict]) -> dict[str, dict[str, np.ndarray]]:
        """The buffers present, with every param, on every step, stacked to ``(T, *shape)``."""
        whole = [
            b for b in _on_every(recorded) if all(set(s[b]) == set(self.names) for s in recorded)
        ]
        return {b: {k: np.stack([s[b][k] for s in recorded]) for k in self.names} for b in whole}


def _on_every(recorded: list[dict]) -> list[str]:
    """The keys of the first step's record that every step's record has."""
    return [k for k in (recorded[0] if recorded else ()) if all(k in r for r in recorded)]
