"""The students' pitfalls that :mod:`minimsam.crosscheck.mutants` does not already name.

The crosscheck mutants cover the decay point of NAG, SAM and MSAM, the perturbation
sign, a missing ``EPS``, rho drift and a checkpoint without the optimizer state. A
student writing a step function makes more classic mistakes:

``momentum_not_carried``
    The momentum buffer is not carried from one step to the next: the step starts from
    a fresh ``v = 0`` every time, or returns the ``v`` it was given instead of
    ``v_{t+1}``. Either way every step sees ``v_t = 0``.
``nag_variable``
    NAG with the wrong variable: the gradient taken at ``w`` instead of the look-ahead
    point ``a = w - lr mu v`` (that is heavy ball); the update started from ``a``
    instead of ``w``; the next look-ahead point ``w_{t+1} - lr mu v_{t+1}`` returned as
    the params; or PyTorch's ``SGD(nesterov=True)`` update applied to ``w``, whose
    variable is the look-ahead point, not ``w``.
``weight_decay_placement`` (SGD)
    The decay applied to ``w`` beside the momentum, ``w - lr (v_{t+1} + lam w)``,
    instead of inside the gradient that enters the momentum.
``weight_decay_missing``
    No weight decay at all (``lam`` ignored).
``no_perturbation``
    SAM, MSAM or AdamW-MSAM with the gradient taken at ``w`` itself, as if ``rho = 0``:
    the step is plain momentum SGD (or AdamW).

Each mutant is a reference optimizer of :mod:`minimsam.optim` with one line changed
(marked ``# PITFALL``), run through :func:`minimsam.crosscheck.reference.run_reference`
as the crosscheck mutants are, and :func:`diagnose` names the ones a trajectory matches.
"""

from __future__ import annotations

from collections.abc import Mapping

from minimsam import optim
from minimsam.crosscheck.case import Case, Trajectory
from minimsam.crosscheck.compare import ATOL, RTOL, Diagnosis, first_divergence
from minimsam.crosscheck.mutants import Mutant
from minimsam.crosscheck.reference import run_reference
from minimsam.optim.base import axpy, zeros_like

__all__ = ["EXTRA_MUTANTS", "PITFALLS", "diagnose"]

PITFALLS: dict[str, str] = {
    "momentum_not_carried": "momentum state not carried over from one step to the next",
    "nag_variable": "NAG with the wrong variable",
    "weight_decay_placement": "weight decay applied at the wrong point",
    "weight_decay_missing": "weight decay left out",
    "no_perturbation": "gradient taken at w, not at the perturbed point",
}


# ----------------------------------------------------------------------------- momentum


class _MomentumDropped:
    """Mixin: every step sees zero buffers, ``v_t = 0`` (or ``m_t = s_t = 0``): a fresh
    buffer each time, or the old one returned instead of the new. The step count goes on."""

    def update(self, w, state, grad, t, trace):
        state = {k: zeros_like(b) if isinstance(b, Mapping) else b for k, b in state.items()}
        return super().update(w, state, grad, t, trace)  # PITFALL: the zeroed state


class SGDMomentumDropped(_MomentumDropped, optim.SGD):
    pass


class NAGMomentumDropped(_MomentumDropped, optim.NAG):
    pass


class SAMMomentumDropped(_MomentumDropped, optim.SAM):
    pass


class MSAMMomentumDropped(_MomentumDropped, optim.MSAM):
    pass


class AdamWMSAMMomentsDropped(_MomentumDropped, optim.AdamWMSAM):
    pass


# ----------------------------------------------------------------------------- no decay


class _DecayIgnored:
    """Mixin: the optimizer built with the case's weight decay runs with none."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_decay = 0.0  # PITFALL


class SGDDecayIgnored(_DecayIgnored, optim.SGD):
    pass


class NAGDecayIgnored(_DecayIgnored, optim.NAG):
    pass


class SAMDecayIgnored(_DecayIgnored, optim.SAM):
    pass


class MSAMDecayIgnored(_DecayIgnored, optim.MSAM):
    pass


class AdamWMSAMDecayIgnored(_DecayIgnored, optim.AdamWMSAM):
    pass


# ----------------------------------------------------------------------------- no perturbation


class _PerturbationIgnored:
    """Mixin: the optimizer built with the case's rho runs with ``rho = 0``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rho = 0.0  # PITFALL


class SAMPerturbationIgnored(_PerturbationIgnored, optim.SAM):
    pass


class MSAMPerturbationIgnored(_PerturbationIgnored, optim.MSAM):
    pass


class AdamWMSAMPerturbationIgnored(_PerturbationIgnored, optim.AdamWMSAM):
    pass


# ----------------------------------------------------------------------------- SGD


class SGDDecayBesideMomentum(optim.SGD):
    """Heavy ball with ``w_{t+1} = w_t - lr (v_{t+1} + lam w_t)``, ``v_{t+1} = mu v_t + g``."""

    def update(self, w, state, grad, t, trace):
        lr, mu = self.hyper("lr", t), self.momentum
        if mu == 0:  # no momentum: the two placements are one update
            return super().update(w, state, grad, t, trace)
        v_next = axpy(mu, state["momentum"], grad(w))  # PITFALL: no lam w in the momentum
        return axpy(-lr, axpy(self.weight_decay, w, v_next), w), {"momentum": v_next}


# ----------------------------------------------------------------------------- NAG


class _NAGWith(optim.NAG):
    """The NAG step with the gradient point, the update start and the returned point as hooks."""

    def gradient_point(self, w, a):
        return a

    def update(self, w, state, grad, t, trace):
        lr, mu, v = self.hyper("lr", t), self.momentum, state["momentum"]
        a = axpy(-lr * mu, v, w)
        p = self.gradient_point(w, a)
        v_next = axpy(mu, v, axpy(self.weight_decay, p, grad(p)))
        return self.returned(axpy(-lr, v_next, self.start(w, a)), v_next, lr, mu), {
            "momentum": v_next
        }

    def start(self, w, a):
        return w

    def returned(self, w_next, v_next, lr, mu):
        return w_next


class NAGGradAtW(_NAGWith):
    """The gradient (and decay) at ``w``, not at the look-ahead point: heavy ball."""

    def gradient_point(self, w, a):
        return w  # PITFALL


class NAGStepFromLookahead(_NAGWith):
    """``w_{t+1} = a_t - lr v_{t+1}``: the update starts from the look-ahead point."""

    def start(self, w, a):
        return a  # PITFALL


class NAGReturnsLookahead(_NAGWith):
    """Returns the next look-ahead point ``w_{t+1} - lr mu v_{t+1}`` as the params."""

    def returned(self, w_next, v_next, lr, mu):
        return axpy(-lr * mu, v_next, w_next)  # PITFALL


class NAGTorchForm(optim.NAG):
    """``SGD(nesterov=True)``'s update on ``w``: ``w - lr (d + mu v_{t+1})``, ``d = g(w) + lam w``.

    Its variable is the look-ahead point ``p_t = w_t - lr mu v_t``, not ``w_t``.
    """

    def update(self, w, state, grad, t, trace):
        lr, mu = self.hyper("lr", t), self.momentum
        d = axpy(self.weight_decay, w, grad(w))
        v_next = axpy(mu, state["momentum"], d)
        return axpy(-lr, axpy(mu, v_next, d), w), {"momentum": v_next}  # PITFALL: torch's variable


# ----------------------------------------------------------------------------- the registry


def _no_decay(cls: type) -> Mutant:
    detail = "weight_decay was not used: add weight_decay * (the decay point) to the gradient"
    return Mutant("no-decay", "weight_decay_missing", cls, detail=detail)


def _unperturbed(cls: type) -> Mutant:
    detail = "every gradient was taken at w, as with rho = 0: take it at the perturbed point"
    return Mutant("no-perturbation", "no_perturbation", cls, detail=detail)


def _dropped(cls: type, buffers: str = "v") -> Mutant:
    detail = f"every step saw {buffers} = 0: return the new buffers, they come back next call"
    return Mutant("momentum-reset", "momentum_not_carried", cls, detail=detail)


EXTRA_MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "sgd": (
        _dropped(SGDMomentumDropped),
        _no_decay(SGDDecayIgnored),
        Mutant("decay-beside-momentum", "weight_decay_placement", SGDDecayBesideMomentum,
               detail="lam w added beside the momentum, not to the gradient that enters it"),
    ),
    "nag": (
        _dropped(NAGMomentumDropped),
        _no_decay(NAGDecayIgnored),
        Mutant("grad-at-w", "nag_variable", NAGGradAtW,
               detail="gradient taken at w, not at the look-ahead point a = w - lr mu v"),
        Mutant("step-from-lookahead", "nag_variable", NAGStepFromLookahead,
               detail="w_next = a - lr v_next: the update must start from w, not from a"),
        Mutant("returns-lookahead", "nag_variable", NAGReturnsLookahead,
               detail="returned the look-ahead point w_next - lr mu v_next instead of w_next"),
        Mutant("torch-nesterov-form", "nag_variable", NAGTorchForm,
               detail="SGD(nesterov=True)'s update w - lr (d + mu v_next), whose variable is "
               "the look-ahead point, applied to w"),
    ),
    "sam": (
        _dropped(SAMMomentumDropped),
        _no_decay(SAMDecayIgnored),
        _unperturbed(SAMPerturbationIgnored),
    ),
    "msam": (
        _dropped(MSAMMomentumDropped),
        _no_decay(MSAMDecayIgnored),
        _unperturbed(MSAMPerturbationIgnored),
    ),
    "adamw-msam": (
        _dropped(AdamWMSAMMomentsDropped, "m = s"),
        _no_decay(AdamWMSAMDecayIgnored),
        _unperturbed(AdamWMSAMPerturbationIgnored),
    ),
}  # fmt: skip


def diagnose(
    case: Case, got: Trajectory, atol: float = ATOL, rtol: float = RTOL
) -> list[Diagnosis]:
    """The extra pitfalls whose mutants ``got`` agrees with, on a case that tells them apart."""
    found = []
    for mutant in EXTRA_MUTANTS.get(case.optimizer, ()):
        trajectory = run_reference(case, mutant.cls)
        if first_divergence(trajectory, case.reference, atol, rtol) is None:
            continue  # the case cannot tell this mutant from the reference
        if first_divergence(got, trajectory, atol, rtol) is None:
            explanation = f"{PITFALLS[mutant.pitfall]} ({mutant.detail})"
            found.append(Diagnosis(mutant.pitfall, mutant.name, explanation))
    return found
