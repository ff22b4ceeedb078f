"""Mutant reference optimizers: the known pitfalls, each introduced on purpose.

A failing implementation is diagnosed by re-running the reference with one pitfall
built in (or two, see :func:`pairs`) and checking whether the implementation's
trajectory matches that mutant's (see :mod:`minimsam.crosscheck.compare`). The
optimizer pitfalls are knob settings of :mod:`minimsam.optim.variants`, where each
update is written once (its defaults are the reference), so two mutants that set
different knobs combine into one class. The state-loss pitfalls change the run, not
the optimizer (:data:`~minimsam.crosscheck.reference.RESTORE_MODES`); the batch-norm
ones change the model's passes (:data:`~minimsam.crosscheck.problems.BN_MODES`).

:data:`PITFALLS` says each pitfall in a line; FORMAT.md ("Pitfalls the cases expose")
lists them with the cases that show them. ``kind="step"`` marks the mistakes of a
hand-written step that the exercise grader names too (momentum not carried, weight
decay left out, no perturbation, NAG's variable); ``kind="precision"`` the float32 norm,
a rounding difference that names the cause of a "matches up to precision" verdict.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from minimsam.optim.variants import (
    AdamWMSAMVariant,
    AdamWVariant,
    MSAMUndoWithCurrentRho,
    MSAMVariant,
    NAGVariant,
    SAMVariant,
    SGDVariant,
    variant,
)

__all__ = ["MUTANTS", "PITFALLS", "Mutant", "combine", "mutants_for", "pairs"]

PITFALLS: dict[str, str] = {
    "weight_decay_placement": "weight decay applied at the wrong point",
    "weight_decay_outside_momentum": "weight decay subtracted outside the momentum and without "
    "the lr (w - lr v - lam w)",
    "perturbation_sign": "perturbation with the wrong sign",
    "per_tensor_norm": "perturbation normalised per tensor, not by the global norm over all "
    "parameters",
    "rho_drift": "old perturbation removed with the current rho, not the rho that applied it "
    "(the official MSAM code's drift under a rho schedule)",
    "rho_lag": "rho applied one step late: the perturbation of step t made with rho[t-1]",
    "rho_schedule_ignored": "the rho schedule never reaches the perturbation: rho stays at rho[0]",
    "first_momentum": "first momentum buffer set to (1 + mu) d instead of d",
    "missing_epsilon": "normalisation by ||.|| without + EPS (NaN on a zero vector)",
    "state_not_saved": "optimizer state not saved and restored with the checkpoint",
    "lr_lost_on_restore": "after the restore the lr schedule no longer reaches the optimizer "
    "(lr stays at its constructor value)",
    "bn_stats_both_passes": "batch-norm running statistics updated in both SAM passes, not "
    "only the first",
    "bn_second_pass_eval": "SAM's second pass run in evaluation mode (normalised with the "
    "running statistics), not training mode without updating them",
    "bn_no_reestimation": "batch-norm statistics not re-estimated at the unperturbed weights "
    "before evaluation",
    "float32_norm": "the norm computed in float32 (a precision difference, not a bug)",
    "momentum_not_carried": "momentum state not carried over from one step to the next",
    "nag_variable": "NAG with the wrong variable",
    "weight_decay_missing": "weight decay left out",
    "no_perturbation": "gradient taken at w, not at the perturbed point",
}


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Mutant:
    """One pitfall built into one optimizer: a class (None: the reference) and a restore mode.

    ``kind`` is ``"bug"``, or ``"precision"`` for a mutant that only rounds
    differently (used to name the cause of a "matches up to precision" verdict).
    A pair of mutants (:func:`combine`) has both pitfalls in ``pitfall``, joined by "+".
    ``bn`` (a :data:`~minimsam.crosscheck.problems.BN_MODES` entry) and ``reestimate``
    change the batch-norm handling; such a mutant applies to batch-norm cases only.
    """

    name: str
    pitfall: str
    cls: type | None = None
    restore: str = "keep"
    detail: str = ""
    kind: str = "bug"
    bn: str = "reference"
    reestimate: bool = True

    @property
    def pitfalls(self) -> list[str]:
        return self.pitfall.split("+")

    @property
    def needs_stats(self) -> bool:
        """Whether only a batch-norm case can show this mutant."""
        return self.bn != "reference" or not self.reestimate

    def applies_to(self, case) -> bool:
        """Whether ``case`` can run this mutant (a restore, batch norm where needed)."""
        if self.restore != "keep" and case.restore_before_step is None:
            return False
        return case.has_stats or not self.needs_stats


_LOST = Mutant(
    "state-lost",
    "state_not_saved",
    restore="lose",
    detail="the run continued from a fresh optimizer at w",
)
_LOST_PERTURBED = Mutant(
    "state-lost-perturbed",
    "state_not_saved",
    restore="lose-perturbed",
    detail="the run continued from a fresh optimizer at the perturbed point the old one held",
)
_LR_LOST = Mutant(
    "lr-lost-on-restore",
    "lr_lost_on_restore",
    restore="lr-lost",
    detail="state restored, but the lr stayed at lr[0] after the restore",
)
_BN_NO_REESTIMATION = Mutant(
    "bn-no-reestimation",
    "bn_no_reestimation",
    reestimate=False,
    detail="evaluated with the statistics of the perturbed forward passes",
)
_FIRST = "the first momentum buffer is (1 + mu) d, not d"
_OUTSIDE = "w - lr v - lam w: the decay outside the momentum, without lr"
_F32 = "the norm computed in float32"
_PER_TENSOR = "each tensor normalised by its own norm"
_NO_DECAY = "weight_decay was not used: add weight_decay * (the decay point) to the gradient"
_UNPERTURBED = "every gradient was taken at w, as with rho = 0: take it at the perturbed point"


def _m(name, pitfall, base, detail, kind="bug", **knobs) -> Mutant:
    """The mutant ``name``: ``base`` (a class of :mod:`minimsam.optim.variants`) with ``knobs``."""
    return Mutant(name, pitfall, variant(base, **knobs), detail=detail, kind=kind)


def _student(base, buffers: str = "v") -> tuple[Mutant, ...]:
    """The mistakes of a hand-written step that every optimizer can make (``kind="step"``):
    momentum not carried, weight decay left out."""
    dropped = f"every step saw {buffers} = 0: return the new buffers, they come back next call"
    return (
        _m("momentum-reset", "momentum_not_carried", base, dropped, "step", carry=False),
        _m("no-decay", "weight_decay_missing", base, _NO_DECAY, "step", decay="none"),
    )


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "sgd": (
        _m("first-momentum", "first_momentum", SGDVariant, _FIRST, first_momentum="one-plus-mu"),
        _m("decay-outside", "weight_decay_outside_momentum", SGDVariant, _OUTSIDE,
           decay="outside"),
        _LOST,
        _LR_LOST,
        *_student(SGDVariant),
        _m("decay-beside-momentum", "weight_decay_placement", SGDVariant, "lam w added beside "
           "the momentum, not to the gradient that enters it", "step", decay="beside"),
    ),
    "nag": (
        _m("decay-at-w", "weight_decay_placement", NAGVariant,
           "decay at w, not at the look-ahead point w - lr mu v", decay_at="w"),
        _m("first-momentum", "first_momentum", NAGVariant, _FIRST, first_momentum="one-plus-mu"),
        _LOST,
        _LR_LOST,
        *_student(NAGVariant),
        _m("grad-at-w", "nag_variable", NAGVariant, "gradient taken at w, not at the look-ahead "
           "point a = w - lr mu v", "step", grad_at="w", decay_at="w"),
        _m("step-from-lookahead", "nag_variable", NAGVariant, "w_next = a - lr v_next: the "
           "update must start from w, not from a", "step", step_from="lookahead"),
        _m("returns-lookahead", "nag_variable", NAGVariant, "returned the look-ahead point "
           "w_next - lr mu v_next instead of w_next", "step", returns="lookahead"),
        _m("torch-nesterov-form", "nag_variable", NAGVariant, "SGD(nesterov=True)'s update "
           "w - lr (d + mu v_next), whose variable is the look-ahead point, applied to w",
           "step", form="torch"),
    ),
    "sam": (
        _m("decay-at-perturbed", "weight_decay_placement", SAMVariant, "decay at w + e, not at w",
           decay_at="wp"),
        _m("sign-flipped", "perturbation_sign", SAMVariant,
           "perturbed to w - e (descent), not w + e", sign=-1.0),
        _m("per-tensor", "per_tensor_norm", SAMVariant, _PER_TENSOR, norm="per-tensor"),
        _m("rho-fixed", "rho_schedule_ignored", SAMVariant, "rho[0] on every step, e.g. an "
           "optimizer state reset that restarts the rho schedule's step count", rho_fixed=True),
        _m("first-momentum", "first_momentum", SAMVariant, _FIRST, first_momentum="one-plus-mu"),
        _m("decay-outside", "weight_decay_outside_momentum", SAMVariant, _OUTSIDE,
           decay="outside"),
        _m("no-eps", "missing_epsilon", SAMVariant, "e = rho g / ||g||", norm_eps=0.0),
        Mutant("bn-stats-both-passes", "bn_stats_both_passes", bn="both-passes",
               detail="the second forward pass, at w + e, updated them again"),
        Mutant("bn-second-pass-eval", "bn_second_pass_eval", bn="second-eval",
               detail="the gradient at w + e taken with model.eval()"),
        _m("float32-norm", "float32_norm", SAMVariant, _F32, "precision", norm="float32"),
        _LOST,
        _LR_LOST,
        *_student(SAMVariant),
        _m("no-perturbation", "no_perturbation", SAMVariant, _UNPERTURBED, "step", sign=0.0),
    ),
    "msam": (
        _m("decay-at-w", "weight_decay_placement", MSAMVariant,
           "decay at w, not at the perturbed point w - rho u", decay_at="w"),
        _m("sign-flipped", "perturbation_sign", MSAMVariant, "perturbed along +v, not -v",
           sign=1.0),
        _m("per-tensor", "per_tensor_norm", MSAMVariant, _PER_TENSOR, norm="per-tensor"),
        Mutant("undo-current-rho", "rho_drift", MSAMUndoWithCurrentRho,
               detail="undo with rho_t * v / ||v|| after perturbing with rho_{t-1}"),
        _m("rho-lag", "rho_lag", MSAMVariant, "perturbed with rho_{t-1}, undone exactly",
           rho_lag=True),
        _m("first-momentum", "first_momentum", MSAMVariant, _FIRST, first_momentum="one-plus-mu"),
        _m("decay-outside", "weight_decay_outside_momentum", MSAMVariant, _OUTSIDE,
           decay="outside"),
        _m("no-eps", "missing_epsilon", MSAMVariant, "u = v / ||v||", norm_eps=0.0),
        _BN_NO_REESTIMATION,
        _m("float32-norm", "float32_norm", MSAMVariant, _F32, "precision", norm="float32"),
        _LOST,
        _LOST_PERTURBED,
        _LR_LOST,
        *_student(MSAMVariant),
        _m("no-perturbation", "no_perturbation", MSAMVariant, _UNPERTURBED, "step", sign=0.0),
    ),
    "adamw": (
        _m("decay-last", "weight_decay_placement", AdamWVariant,
           "decoupled decay after the Adam step, not before (torch.optim.AdamW)",
           decay_last=True),
        _LOST,
        _LR_LOST,
    ),
    "adamw-msam": (
        _m("decay-first", "weight_decay_placement", AdamWMSAMVariant,
           "decoupled decay before the Adam step, not after (official code)", decay_first=True),
        _m("sign-flipped", "perturbation_sign", AdamWMSAMVariant, "perturbed along +m, not -m",
           sign=1.0),
        _m("per-tensor", "per_tensor_norm", AdamWMSAMVariant, _PER_TENSOR, norm="per-tensor"),
        _m("rho-lag", "rho_lag", AdamWMSAMVariant, "perturbed with rho_{t-1} at the end of the "
           "previous step, undone exactly (the official code's form)", rho_lag=True),
        _m("no-eps", "missing_epsilon", AdamWMSAMVariant, "c = rho / ||m||", norm_eps=0.0),
        _m("float32-norm", "float32_norm", AdamWMSAMVariant, _F32, "precision", norm="float32"),
        _LOST,
        _LOST_PERTURBED,
        _LR_LOST,
        *_student(AdamWMSAMVariant, "m = s"),
        _m("no-perturbation", "no_perturbation", AdamWMSAMVariant, _UNPERTURBED, "step",
           sign=0.0),
    ),
}  # fmt: skip


def mutants_for(optimizer: str, kind: str | tuple | None = "bug") -> tuple[Mutant, ...]:
    """The mutants of one optimizer name (a key of :data:`MUTANTS`) of one ``kind``
    (``"bug"``, ``"step"``: a hand-written step's mistake, ``"precision"``, a tuple of
    them, or None for all)."""
    if optimizer not in MUTANTS:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {list(MUTANTS)}")
    kinds = (kind,) if isinstance(kind, str) else kind
    return tuple(m for m in MUTANTS[optimizer] if kinds is None or m.kind in kinds)


def _knob_base(cls: type) -> type | None:
    return cls.knob_base() if hasattr(cls, "knob_base") else None


def combine(a: Mutant, b: Mutant) -> Mutant | None:
    """Both pitfalls in one mutant, or None when they cannot be built together.

    Two optimizer mutants combine when both set knobs of the same base, different
    ones; a restore mode combines with any optimizer mutant; two restore modes do not;
    batch-norm mutants combine like restore modes (one batch-norm change per pair).
    """
    if a.pitfall == b.pitfall or (a.restore != "keep" and b.restore != "keep"):
        return None
    if a.needs_stats and b.needs_stats:
        return None
    if a.cls is not None and b.cls is not None:
        base = _knob_base(a.cls)
        if base is None or base is not _knob_base(b.cls):
            return None
        if a.cls.knobs_set() & b.cls.knobs_set():
            return None
        cls = type(f"{a.cls.__name__}And{b.cls.__name__}", (a.cls, b.cls), {})
    else:
        cls = a.cls or b.cls
    restore = b.restore if a.restore == "keep" else a.restore
    return replace(
        a,
        name=f"{a.name}+{b.name}",
        pitfall=f"{a.pitfall}+{b.pitfall}",
        cls=cls,
        restore=restore,
        detail=f"{a.detail}; and {b.detail}",
        bn=b.bn if a.bn == "reference" else a.bn,
        reestimate=a.reestimate and b.reestimate,
    )


def pairs(optimizer: str) -> list[Mutant]:
    """Every buildable pair of the optimizer's bug mutants (:func:`combine`)."""
    built = (combine(a, b) for a, b in itertools.combinations(mutants_for(optimizer), 2))
    return [m for m in built if m is not None]
