"""The exercises: which step function a student writes, and which golden cases grade it.

Every exercise asks for one plain NumPy function over dicts of arrays (no class, no
minimsam import needed)::

    w_next, v_next = step(w, v, grad_fn, lr=..., momentum=..., [rho=...,] weight_decay=...)

``w`` are the params ``w_t`` and ``v`` the momentum buffer ``v_t`` (zeros on step 0),
both ``{name: float64 array}``; ``grad_fn(x)`` returns the gradient of the data loss
at the point ``x`` (a dict like ``w``; no weight decay in it). The step returns new
dicts ``w_{t+1}`` and ``v_{t+1}``. The grader calls it with the hyperparameters as
keywords, so the names matter, the order does not. The optional AdamW-MSAM exercise
has two buffers and the step count ``t`` (0 on the first step)::

    w_next, m_next, s_next = step(w, m, s, grad_fn, t=..., lr=..., betas=..., eps=...,
                                  rho=..., weight_decay=...)

The cases are the golden cases of :mod:`minimsam.crosscheck.catalogue` for the
exercise's optimizer, less the settings the exercise does not ask for (Nesterov
momentum for the heavy-ball exercise, the batch-norm cases: a step function over
params has no running statistics). Between them they show every pitfall: weight
decay > 0 (the decay point), a zero-gradient step and the zero momentum of step 0
(a missing ``EPS``), a rho that changes every step (rho drift), ten steps (momentum
not carried over), momentum 0 with weight decay (a shortcut for momentum 0 that drops
the decay).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from minimsam.crosscheck.case import Case
from minimsam.crosscheck.catalogue import SETTINGS, build_case

__all__ = ["EXERCISES", "Exercise", "cases_for", "get"]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its name, the optimizer it implements, the function it asks for."""

    name: str
    optimizer: str  # the crosscheck optimizer name of the reference
    function: str  # the default name of the student's function
    title: str
    notebook: str  # its notebook in exercises/
    hyperparameters: tuple[str, ...]  # the keywords the step is called with
    state: tuple[str, ...] = ("v",)  # the params-like buffers, passed after w and returned

    @property
    def solution_file(self) -> str:
        """The file name of a solution in a folder: the function's name less ``_step``."""
        return self.function.removesuffix("_step") + ".py"

    @property
    def signature(self) -> str:
        state, keywords = ", ".join(self.state), ", ".join(self.hyperparameters)
        returned = ", ".join(f"{name}_next" for name in ("w", *self.state))
        return f"{self.function}(w, {state}, grad_fn, {keywords}) -> ({returned})"


_MOMENTUM = ("lr", "momentum", "weight_decay")
_WITH_RHO = ("lr", "momentum", "rho", "weight_decay")
_ADAM = ("t", "lr", "betas", "eps", "rho", "weight_decay")

EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise("sgd-momentum", "sgd", "sgd_momentum_step", "SGD with (heavy-ball) momentum",
                 "01_sgd_momentum.ipynb", _MOMENTUM),
        Exercise("nag", "nag", "nag_step", "Nesterov's accelerated gradient, look-ahead form",
                 "02_nag.ipynb", _MOMENTUM),
        Exercise("sam", "sam", "sam_step", "SAM with SGD-momentum as the base optimizer",
                 "03_sam.ipynb", _WITH_RHO),
        Exercise("msam", "msam", "msam_step", "Momentum-SAM", "04_msam.ipynb", _WITH_RHO),
        Exercise("adamw-msam", "adamw-msam", "adamw_msam_step", "Momentum-SAM on AdamW "
                 "(optional)", "05_adamw_msam.ipynb", _ADAM, state=("m", "s")),
    )
}  # fmt: skip


def get(name: str) -> Exercise:
    """The exercise ``name`` (``sgd-momentum``, ``nag``, ``sam``, ``msam``; ``_`` for ``-`` ok)."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; choose one of: {', '.join(EXERCISES)}")
    return EXERCISES[key]


@cache
def _cases(name: str) -> tuple[Case, ...]:
    exercise = EXERCISES[name]
    settings = [
        s
        for s in SETTINGS
        if s.optimizer == exercise.optimizer
        and not s.hyperparameters.get("nesterov")  # the exercises ask for heavy-ball momentum
        and s.problem != "mlp_batchnorm"  # a step function has no running statistics
    ]
    return tuple(build_case(s) for s in settings)


def cases_for(exercise: Exercise | str) -> list[Case]:
    """The golden cases (with reference trajectories) that grade ``exercise``; built once."""
    name = exercise.name if isinstance(exercise, Exercise) else get(exercise).name
    return list(_cases(name))
