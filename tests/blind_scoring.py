"""Scoring a diagnosis against a blind set's manifest (tests/exercises/blind/,
tests/crosscheck/blind/): the mistake is *located* when the first equation that does not
hold is the manifest's ``equation``, *named* when a named pitfall sits in that equation."""

from __future__ import annotations

# the equations of docs/optimizers.md (their left sides) where each named pitfall sits
PITFALL_EQUATIONS: dict[str, set[str]] = {
    "weight_decay_placement": {"d_t", "w_{t+1}", "w'_t"},
    "weight_decay_missing": {"d_t", "w_{t+1}", "w'_t", "gamma_t"},
    "weight_decay_outside_momentum": {"d_t", "w_{t+1}"},
    "perturbation_sign": {"w~_t", "e_t"},
    "per_tensor_norm": {"u_t", "e_t", "c_t"},
    "missing_epsilon": {"u_t", "e_t", "c_t"},
    "no_perturbation": {"w~_t", "e_t", "u_t"},
    "momentum_not_carried": {"v_{t+1}", "m_{t+1}"},
    "first_momentum": {"v_{t+1}"},
    "nag_variable": {"a_t", "w_{t+1}", "d_t"},
    "rho_drift": {"w_t"},
    "rho_lag": {"w~_t", "c_{t+1}"},
    "rho_schedule_ignored": {"e_t"},
    "state_not_saved": {"v_{t+1}"},
    "lr_lost_on_restore": {"w_{t+1}"},
    "memory_free_form": {"w~_{t+1}"},
}


def left_side(equation: str) -> str:
    """``"d_t = g(w_t) + lambda w_t"`` -> ``"d_t"``; a line copied from the LaTeX of
    docs/optimizers.md (``"\\tilde w_t &= ..."``) -> the same plain symbol (``"w~_t"``)."""
    side = equation.split("&=")[0] if "&=" in equation else equation.split(" = ")[0]
    return side.strip().replace("\\tilde w", "w~").replace("\\gamma", "gamma")


def score(entry: dict, pitfalls: list[str], symbol: str | None) -> str:
    """``"named"``, ``"located"`` or ``"missed"`` for a wrong answer's diagnosis."""
    truth = left_side(entry["equation"])
    if any(truth in PITFALL_EQUATIONS.get(p, ()) for p in pitfalls):
        return "named"
    return "located" if symbol == truth else "missed"
