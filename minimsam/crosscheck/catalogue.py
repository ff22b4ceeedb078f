"""The fixed catalogue of golden cases: small problems, fixed seeds, chosen settings.

Every optimizer gets a handful of cases, each built to expose some of the pitfalls
of :mod:`minimsam.crosscheck.mutants` (the case's ``pitfalls`` lists those whose mutant
leaves its reference trajectory):

- weight decay on and off (its placement is invisible without it);
- several rho values, and a rho that changes every step (the official code's drift
  shows only when rho changes; a constant rho hides it);
- an lr schedule (warm-up, then cosine), given as the list of per-step values;
- a save and restore of the optimizer state in the middle of the run;
- on the 2-D surface, a step whose gradient is exactly zero (a missing ``EPS`` gives
  NaN there; for MSAM and AdamW-MSAM the zero momentum of step 0 already does); one
  surface case each of SAM, MSAM, AdamW and AdamW-MSAM also has a zero gradient on step
  0, so that the first vector normalised is zero: SAM's gradient, and MSAM's ``v_1``
  and AdamW-MSAM's ``m_1``, which a memory-free form normalises at the end of step 0;
  the SAM, MSAM and AdamW-MSAM ones then scale step 1's loss down (a gradient of norm
  about 1e-4, or 1e-3 for AdamW-MSAM), so that a vector about 1e-4 long is normalised
  next: an ``EPS`` put elsewhere (``sqrt(||v||^2 + EPS)``) changes its direction's length
  there by some 1e-5, far above the tolerance, while guarding the norm with an ``if``
  instead of adding ``EPS`` changes it by ``EPS / ||v||``, far below;
- each hyperparameter at 0 with the others non-zero (momentum 0 with weight decay,
  weight decay 0 with momentum, Nesterov without weight decay), so that a shortcut an
  implementation takes for a zero hyperparameter cannot drop another term unseen;
- cases that separate pitfalls which otherwise show together: a rho schedule without
  a restore (rho drift and rho lag, not state loss), an lr schedule with a constant
  rho across a restore (state loss and a lost lr schedule, not rho bugs), and a SAM
  zero-gradient step with nothing else (a missing ``EPS`` alone).

The problems are tiny (an MLP 4-6-3 on batches of 8, or Rosenbrock in 2-D) and the
cases have 10 steps (the batch-norm ones 5), so all cases together run in well under a
second per optimizer.

Three batch-norm cases (an MLP 4-6-3 with a ``BatchNorm1d`` after its hidden layer, 5
steps, one each for SGD, SAM and MSAM) record the running statistics after every step
and the evaluation-mode logits on a fixed batch after the last step; the MSAM case
re-estimates the statistics over :data:`REESTIMATE_BATCHES` batches first. They expose
the batch-norm pitfalls: SAM's statistics updated in both passes, SAM's second pass in
evaluation mode, MSAM evaluated without re-estimation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minimsam.crosscheck import problems
from minimsam.crosscheck.case import Case
from minimsam.crosscheck.compare import exposed_pitfalls
from minimsam.crosscheck.reference import run_reference
from minimsam.optim import schedules

__all__ = ["SETTINGS", "Setting", "build_case", "build_cases"]

STEPS = 10
MLP_SIZES, BATCH = [4, 6, 3], 8
ZERO_GRAD_STEP = 3  # the surface step with scale 0 and noise 0
FIRST_AND_LATER = (0, ZERO_GRAD_STEP)  # a zero gradient on step 0 too: the first normalisation
ZERO_0_3 = f"zero gradients on steps 0 and {ZERO_GRAD_STEP}"
SMALL_1 = "a small gradient on step 1"
BN_STEPS, REESTIMATE_BATCHES, EVAL_BATCH = 5, 3, 16  # the batch-norm cases


def constant(value: float, steps: int = STEPS) -> list[float]:
    return [float(value)] * steps


def warmup_cosine(value: float) -> list[float]:
    """Linear warm-up over 3 steps, then half a cosine down to value / 10."""
    schedule = schedules.warmup_cosine(value, warmup_steps=3, total_steps=STEPS, final=value / 10)
    return [float(schedule(t)) for t in range(STEPS)]


def every_step(value: float) -> list[float]:
    """A rho that changes on every step: value * (0.5, 1, 1.5, 0.5, 1, ...)."""
    return [value * (0.5, 1.0, 1.5)[t % 3] for t in range(STEPS)]


@dataclass(frozen=True)
class Setting:
    """The recipe of one case: everything but the generated data and the reference."""

    name: str
    optimizer: str
    description: str
    problem: str  # "mlp", "mlp_batchnorm" or "surface"
    hyperparameters: dict
    lr: list[float]
    rho: list[float] | None = None
    restore_before_step: int | None = None
    seed: int = 0
    reestimate_batches: int = 0  # batch norm: re-estimation batches before the evaluation
    zero_grad_steps: tuple[int, ...] = (ZERO_GRAD_STEP,)  # surface: the exactly-zero gradients
    small_grad_steps: tuple[int, ...] = ()  # surface: steps whose loss is scaled down ...
    small_grad_factor: float = 1.0  # ... by this factor (the start's gradient norm is about 230)


WD, SGD_HP = "weight_decay", {"momentum": 0.9, "nesterov": False}
ADAM = {"betas": [0.9, 0.999], "eps": 1e-8}
SURFACE_LR = 2e-4  # stable for SGD with momentum on Rosenbrock from (-1.2, 1)

SETTINGS: tuple[Setting, ...] = (
    # ---- SGD (torch.optim.SGD semantics)
    Setting("sgd-mlp-plain", "sgd", "no momentum, no weight decay", "mlp",
            {"momentum": 0.0, WD: 0.0, "nesterov": False}, constant(0.5), seed=1),
    Setting("sgd-mlp-momentum-wd-restore", "sgd", "momentum, weight decay, lr schedule, "
            "state saved and restored before step 5", "mlp", {**SGD_HP, WD: 0.05},
            warmup_cosine(0.2), restore_before_step=5, seed=2),
    Setting("sgd-mlp-nesterov-wd-restore", "sgd", "Nesterov momentum, weight decay, restore",
            "mlp", {"momentum": 0.9, WD: 0.05, "nesterov": True}, constant(0.1),
            restore_before_step=4, seed=3),
    Setting("sgd-surface-zero-grad", "sgd", "Rosenbrock, momentum, a zero-gradient step",
            "surface", {**SGD_HP, WD: 0.0}, constant(SURFACE_LR), seed=4),
    Setting("sgd-mlp-wd-no-momentum", "sgd", "no momentum, weight decay, lr schedule, "
            "restore", "mlp", {"momentum": 0.0, WD: 0.1, "nesterov": False},
            warmup_cosine(0.5), restore_before_step=5, seed=25),
    Setting("sgd-surface-nesterov", "sgd", "Rosenbrock, Nesterov momentum, no weight decay, "
            "a zero-gradient step", "surface", {"momentum": 0.9, WD: 0.0, "nesterov": True},
            constant(SURFACE_LR), seed=26),
    # ---- NAG (look-ahead form)
    Setting("nag-mlp-wd-restore", "nag", "weight decay, lr schedule, restore", "mlp",
            {"momentum": 0.9, WD: 0.05}, warmup_cosine(0.2), restore_before_step=5, seed=5),
    Setting("nag-surface-zero-grad", "nag", "Rosenbrock, a zero-gradient step", "surface",
            {"momentum": 0.9, WD: 0.0}, constant(SURFACE_LR), seed=6),
    Setting("nag-mlp-wd-no-momentum", "nag", "no momentum, weight decay, lr schedule, restore",
            "mlp", {"momentum": 0.0, WD: 0.1}, warmup_cosine(0.5), restore_before_step=5,
            seed=27),
    # ---- SAM
    Setting("sam-mlp-rho0.05", "sam", "constant rho 0.05, no weight decay", "mlp",
            {"momentum": 0.9, WD: 0.0}, constant(0.1), constant(0.05), seed=7),
    Setting("sam-mlp-wd-schedules-restore", "sam", "weight decay, lr schedule, rho changing "
            "every step, restore", "mlp", {"momentum": 0.9, WD: 0.05}, warmup_cosine(0.2),
            every_step(0.2), restore_before_step=5, seed=8),
    Setting("sam-surface-zero-grad", "sam", "Rosenbrock, a zero-gradient step, no weight "
            "decay, no restore", "surface", {"momentum": 0.9, WD: 0.0}, constant(SURFACE_LR),
            constant(0.02), seed=20),
    Setting("sam-mlp-lr-schedule-restore", "sam", "constant rho, lr schedule across a restore",
            "mlp", {"momentum": 0.9, WD: 0.0}, warmup_cosine(0.2), constant(0.05),
            restore_before_step=5, seed=21),
    Setting("sam-surface-zero-grad-restore", "sam", f"Rosenbrock, {ZERO_0_3}, {SMALL_1}, "
            "weight decay, restore", "surface", {"momentum": 0.9, WD: 0.1},
            constant(SURFACE_LR), constant(0.02), restore_before_step=6, seed=9,
            zero_grad_steps=FIRST_AND_LATER, small_grad_steps=(1,), small_grad_factor=1e-6),
    Setting("sam-mlp-wd-no-momentum", "sam", "no momentum, weight decay, constant rho 0.1",
            "mlp", {"momentum": 0.0, WD: 0.1}, constant(0.1), constant(0.1), seed=28),
    # ---- MSAM
    Setting("msam-mlp-rho0.3", "msam", "constant rho 0.3, no weight decay", "mlp",
            {"momentum": 0.9, WD: 0.0}, constant(0.1), constant(0.3), seed=10),
    Setting("msam-mlp-wd-rho1", "msam", "constant rho 1.0, weight decay", "mlp",
            {"momentum": 0.9, WD: 0.05}, constant(0.1), constant(1.0), seed=11),
    Setting("msam-mlp-schedules-restore", "msam", "weight decay, lr schedule, rho changing "
            "every step, restore", "mlp", {"momentum": 0.9, WD: 0.01}, warmup_cosine(0.2),
            every_step(0.5), restore_before_step=5, seed=12),
    Setting("msam-mlp-rho-schedule", "msam", "rho changing every step, weight decay, no restore",
            "mlp", {"momentum": 0.9, WD: 0.01}, constant(0.1), every_step(0.5), seed=22),
    Setting("msam-mlp-lr-schedule-restore", "msam", "constant rho, lr schedule across a restore",
            "mlp", {"momentum": 0.9, WD: 0.0}, warmup_cosine(0.2), constant(0.3),
            restore_before_step=5, seed=24),
    Setting("msam-surface-zero-grad-restore", "msam", f"Rosenbrock, {ZERO_0_3}, {SMALL_1}, "
            "rho changing every step, restore", "surface", {"momentum": 0.9, WD: 0.0},
            constant(SURFACE_LR), every_step(0.05), restore_before_step=6, seed=13,
            zero_grad_steps=FIRST_AND_LATER, small_grad_steps=(1,), small_grad_factor=4e-5),
    Setting("msam-mlp-wd-no-momentum", "msam", "no momentum, weight decay, constant rho 0.3, "
            "restore", "mlp", {"momentum": 0.0, WD: 0.1}, constant(0.1), constant(0.3),
            restore_before_step=5, seed=29),
    # ---- AdamW (torch.optim.AdamW semantics)
    Setting("adamw-mlp-wd", "adamw", "weight decay 0.1", "mlp", {**ADAM, WD: 0.1},
            constant(0.05), seed=14),
    Setting("adamw-mlp-schedule-restore", "adamw", "lr schedule, weight decay, restore", "mlp",
            {**ADAM, WD: 0.1}, warmup_cosine(0.05), restore_before_step=5, seed=15),
    Setting("adamw-surface-zero-grad", "adamw", f"Rosenbrock, {ZERO_0_3}", "surface",
            {**ADAM, WD: 0.0}, constant(0.01), seed=16, zero_grad_steps=FIRST_AND_LATER),
    # ---- AdamW-MSAM
    Setting("adamw-msam-mlp-wd-rho0.5", "adamw-msam", "constant rho 0.5, weight decay 0.1",
            "mlp", {**ADAM, WD: 0.1}, constant(0.05), constant(0.5), seed=17),
    Setting("adamw-msam-mlp-schedules-restore", "adamw-msam", "lr schedule, rho changing every "
            "step, weight decay, restore", "mlp", {**ADAM, WD: 0.1}, warmup_cosine(0.05),
            every_step(1.0), restore_before_step=5, seed=18),
    Setting("adamw-msam-mlp-rho-schedule", "adamw-msam", "rho changing every step, weight "
            "decay, no restore", "mlp", {**ADAM, WD: 0.1}, constant(0.05), every_step(1.0),
            seed=23),
    Setting("adamw-msam-surface-zero-grad", "adamw-msam", f"Rosenbrock, {ZERO_0_3}, "
            f"{SMALL_1}, rho changing every step", "surface", {**ADAM, WD: 0.0},
            constant(0.01), every_step(0.05), seed=19, zero_grad_steps=FIRST_AND_LATER,
            small_grad_steps=(1,), small_grad_factor=4e-4),
    # ---- batch norm (SGD, SAM, MSAM): running statistics and a final evaluation
    Setting("sgd-mlp-batchnorm", "sgd", "batch norm, momentum, weight decay", "mlp_batchnorm",
            {**SGD_HP, WD: 0.01}, constant(0.1, BN_STEPS), seed=30),
    Setting("sam-mlp-batchnorm", "sam", "batch norm, constant rho 0.2, weight decay",
            "mlp_batchnorm", {"momentum": 0.9, WD: 0.01}, constant(0.1, BN_STEPS),
            constant(0.2, BN_STEPS), seed=31),
    Setting("msam-mlp-batchnorm-reestimate", "msam", "batch norm, constant rho 0.5, "
            f"statistics re-estimated over {REESTIMATE_BATCHES} batches before the evaluation",
            "mlp_batchnorm", {"momentum": 0.9, WD: 0.0}, constant(0.1, BN_STEPS),
            constant(0.5, BN_STEPS), seed=32, reestimate_batches=REESTIMATE_BATCHES),
)  # fmt: skip


def _mlp_batches(rng: np.random.Generator, steps: int = STEPS) -> dict[str, np.ndarray]:
    """Inputs ``N(0, 1)``; labels from a fixed random linear teacher, so they are learnable."""
    n_in, n_out = MLP_SIZES[0], MLP_SIZES[-1]
    teacher = rng.normal(size=(n_in, n_out))
    x = rng.normal(size=(steps, BATCH, n_in))
    return {"x": x, "y": np.argmax(x @ teacher, axis=-1).astype(np.int64)}


def _batchnorm_batches(rng: np.random.Generator, steps: int) -> dict[str, np.ndarray]:
    """The MLP batches, plus ``eval_x`` (the evaluation batch) and ``reestimate_x``
    (the re-estimation batches), all ``N(0, 1)``."""
    n_in = MLP_SIZES[0]
    batches = _mlp_batches(rng, steps)
    batches["eval_x"] = rng.normal(size=(EVAL_BATCH, n_in))
    batches["reestimate_x"] = rng.normal(size=(REESTIMATE_BATCHES, BATCH, n_in))
    return batches


def _surface_batches(rng: np.random.Generator, setting: Setting) -> dict:
    """Scales in [0.5, 1.5] and noise ``N(0, 10^2)``; both zero on the zero-gradient steps
    and multiplied by ``small_grad_factor`` on the small-gradient ones."""
    scale = rng.uniform(0.5, 1.5, size=STEPS)
    noise = 10.0 * rng.normal(size=(STEPS, 2))
    factor = np.ones(STEPS)
    factor[list(setting.small_grad_steps)] = setting.small_grad_factor
    factor[list(setting.zero_grad_steps)] = 0.0
    scale, noise = factor * scale, factor[:, None] * noise
    return {"scale": scale, "noise": noise}


def build_case(setting: Setting) -> Case:
    """The case of ``setting``: seeded data, initial params, the reference trajectory and
    the pitfalls it shows."""
    rng = np.random.default_rng(setting.seed)
    if setting.problem == "mlp":
        model, batches = problems.mlp_model(MLP_SIZES), _mlp_batches(rng)
    elif setting.problem == "mlp_batchnorm":
        model = problems.mlp_batchnorm_model(MLP_SIZES)
        batches = _batchnorm_batches(rng, len(setting.lr))
    else:
        model, batches = problems.surface_model(), _surface_batches(rng, setting)
    case = Case(
        name=setting.name,
        optimizer=setting.optimizer,
        description=setting.description,
        model=model,
        hyperparameters=dict(setting.hyperparameters),
        lr=list(setting.lr),
        rho=None if setting.rho is None else list(setting.rho),
        restore_before_step=setting.restore_before_step,
        init=problems.init_params(model, seed=setting.seed),
        batches=batches,
        init_stats=problems.init_stats(model),
        reestimate_batches=setting.reestimate_batches,
    )
    case.reference = run_reference(case)
    case.pitfalls = exposed_pitfalls(case)
    return case


def build_cases(optimizers: list[str] | None = None) -> list[Case]:
    """Every case of the catalogue, or those of the given optimizer names."""
    return [build_case(s) for s in SETTINGS if optimizers is None or s.optimizer in optimizers]
