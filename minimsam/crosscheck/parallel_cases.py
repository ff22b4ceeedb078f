"""Golden cases for SAM and MSAM across workers, with accumulation and a loss scale.

Each case is an ordinary golden case (FORMAT.md) whose ``model`` carries a
``"parallel"`` entry: ``workers`` (the world size ``W``), ``micro_batches`` (``k``),
``sam_ascent`` (``"global"`` or ``"local"``). Step ``t``'s batch ``x[t]`` ``(B, in)``
splits into ``S = W k`` equal shards, worker-major: worker ``r`` runs micro-batches
``r k .. r k + k - 1`` (see :mod:`minimsam.optim.data_parallel` for the equations).
Cases with a loss scale also carry ``batch/loss_scale`` ``(T,)``, the scale ``s_t`` of
each step (what torch's GradScaler rule gives), and ``batch/overflow``
``(T, passes, S)``: where a shard's backward pass overflows (its gradients are all
NaN; the recipe must skip that step).

The trajectory records every shard's gradient evaluation: the first evaluation of
each worker (worker 0, 1, ...), then the second of each, and so on, each worker's in
the order it made them. SAM on 2 workers: worker 0's and worker 1's first pass, then
their second pass; with 2 micro-batches each: micro-batch 0 of worker 0 and 1, then
micro-batch 1 of both, all at ``w``, then the same at the perturbed points. The loss
of an evaluation is the shard's mean loss, unscaled. The params are the unperturbed
weights after the step (identical on every worker).

The pitfalls (:data:`PARALLEL_PITFALLS`) are re-runs of the reference with one knob
changed (:class:`ParallelBug`), each named in a failing case's diagnosis by
:func:`check_parallel_case`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import minimsam as ms
from minimsam.crosscheck import problems
from minimsam.crosscheck.case import Case, Recorder, Trajectory
from minimsam.crosscheck.compare import (
    ATOL,
    RTOL,
    CaseResult,
    Diagnosis,
    compared,
    first_divergence,
    max_difference,
)
from minimsam.crosscheck.reference import make_optimizer
from minimsam.optim import data_parallel as dp

__all__ = [
    "BATCH",
    "PARALLEL_PITFALLS",
    "ParallelBug",
    "ParallelSetting",
    "build_parallel_cases",
    "check_parallel_case",
    "is_parallel",
    "parallel_bugs",
    "run_parallel_reference",
    "shard_batches",
    "validate_world_size",
]

BATCH, STEPS, SIZES = 8, 6, [3, 4, 3]
ACCUMULATION = 2  # micro-batches per worker in the accumulation cases

PARALLEL_PITFALLS: dict[str, str] = {
    "first_pass_all_reduced": "SAM's first pass all-reduced: one global ascent where a "
    "per-worker ascent was meant",
    "no_sync_backward_only": "no_sync() around backward() only: DDP decides at forward time "
    "whether the backward pass all-reduces, so the first pass was all-reduced anyway "
    "(the same trajectory as first_pass_all_reduced)",
    "first_pass_not_all_reduced": "SAM's first pass not all-reduced: each worker ascended "
    "along its own gradient where one global ascent was meant",
    "perturb_per_micro_batch": "accumulation that ascends after each micro-batch: each "
    "micro-batch perturbed along its own gradient instead of the accumulated one",
    "step_per_micro_batch": "accumulation that steps the optimizer (and re-perturbs) after "
    "each micro-batch instead of once per batch",
    "loss_scale_in_norm": "the loss scale left in the norm: the ascent divided by "
    "||s g|| instead of ||g||, so the perturbation is s times too short",
    "non_finite_not_skipped": "a non-finite (overflowed) pass did not skip the step: its "
    "NaN gradient reached the weights",
}


@dataclass(frozen=True)
class ParallelSetting:
    """One case's recipe: optimizer, hyperparameters, workers, accumulation, scale."""

    name: str
    optimizer: str
    description: str
    rho: float
    micro_batches: int = 1
    sam_ascent: str = "global"
    loss_scale: float | None = None
    overflow: tuple[tuple[int, int, int], ...] = ()  # (step, pass, shard counted from the end)


SETTINGS = (
    ParallelSetting("dp-sam-global", "sam", "SAM, one global ascent (first pass all-reduced)", 0.2),
    ParallelSetting(
        "dp-sam-local", "sam", "SAM, per-worker ascent (m-sharpness)", 0.2, sam_ascent="local"
    ),
    ParallelSetting(
        "dp-sam-accumulation",
        "sam",
        f"SAM, global ascent, {ACCUMULATION} micro-batches accumulated on each worker",
        0.2,
        micro_batches=ACCUMULATION,
    ),
    ParallelSetting(
        "dp-sam-loss-scale",
        "sam",
        "SAM, global ascent, loss scale 2**10; the last shard's second pass overflows on step 2",
        0.2,
        loss_scale=2.0**10,
        overflow=((2, 1, -1),),
    ),
    ParallelSetting("dp-msam", "msam", "MSAM across workers", 0.3),
    ParallelSetting(
        "dp-msam-accumulation-loss-scale",
        "msam",
        f"MSAM, {ACCUMULATION} micro-batches per worker, loss scale 2**8; shard 0 overflows "
        "on step 3",
        0.3,
        micro_batches=ACCUMULATION,
        loss_scale=2.0**8,
        overflow=((3, 0, 0),),
    ),
)


def is_parallel(case: Case) -> bool:
    """Whether ``case`` is a data-parallel case (its model has a ``"parallel"`` entry)."""
    return "parallel" in case.model


def validate_world_size(world_size: int, batch: int = BATCH) -> None:
    """One-line ValueError unless every case's batch splits evenly over ``world_size``."""
    if world_size < 1:
        raise ValueError(f"--world-size must be at least 1, got {world_size}")
    if world_size > batch:
        raise ValueError(f"world size {world_size} is larger than the batch of {batch} examples")
    fits = [w for w in range(1, batch + 1) if batch % (w * ACCUMULATION) == 0]
    if world_size not in fits:
        raise ValueError(
            f"world size {world_size} does not split the batch of {batch} examples into equal "
            f"sub-batches of {ACCUMULATION} micro-batches each; use one of {fits}"
        )


def shard_batches(case: Case) -> list[dict]:
    """``{"x": (T, B/S, in), "y": (T, B/S)}`` of each of the case's ``S`` shards, worker-major."""
    spec = case.model["parallel"]
    slices = dp.shard_slices(BATCH, spec["workers"], spec["micro_batches"])
    return [{"x": case.batches["x"][:, s], "y": case.batches["y"][:, s]} for s in slices]


@dataclass(frozen=True)
class ParallelBug:
    """A knob of the reference run that builds one pitfall in (defaults: the reference)."""

    name: str = "reference"
    ascent: str | None = None  # None: the case's; or "global", "per-worker", "per-shard"
    norm_scale: bool = False  # the loss scale in the ascent's norm
    skip_non_finite: bool = True
    step_per_micro_batch: bool = False
    cases_pitfall: str = field(default="", compare=False)


def _groups(case: Case, shards: dp.Shards, bug: ParallelBug) -> list[list[int]]:
    ascent = bug.ascent or case.model["parallel"]["sam_ascent"]
    if ascent == "per-worker":
        return shards.per_worker_groups()
    if ascent == "per-shard":
        return dp.ascent_groups(len(shards.grad_fns), "local")
    return dp.ascent_groups(len(shards.grad_fns), ascent)


def interleaved(logs: list[list]) -> list:
    """The i-th entry of every log, log by log, for i = 0, 1, ...: each worker's evaluations
    in the order the trajectory records them."""
    return [log[i] for i in range(max(map(len, logs), default=0)) for log in logs if i < len(log)]


class _StepLog:
    """Each worker's evaluations of one step in the order it made them; :meth:`flush`
    hands them to the recorder :func:`interleaved`."""

    def __init__(self, recorder: Recorder):
        self.recorder, self.by_worker = recorder, {}

    def add(self, worker: int, point: dict, loss: float, grads: dict) -> None:
        self.by_worker.setdefault(worker, []).append((point, loss, grads))

    def flush(self) -> None:
        for evaluation in interleaved([self.by_worker[r] for r in sorted(self.by_worker)]):
            self.recorder.evaluation(*evaluation)
        self.by_worker = {}


class _ShardFn:
    """Shard ``s``'s gradient at step ``t``, times the scale, NaN where it overflows."""

    def __init__(self, case: Case, t: int, shard: int, log: _StepLog):
        spec = case.model["parallel"]
        self.fn = problems.grad_fn(case.model, shard_batches(case)[shard], t)
        self.overflow = case.batches.get("overflow")
        self.worker = shard // spec["micro_batches"]
        self.t, self.shard, self.scale, self.log, self.calls = t, shard, _scale_at(case, t), log, 0

    def __call__(self, point):
        loss, grads = self.fn(point)
        self.log.add(self.worker, point, loss, grads)
        pass_, flags = self.calls, self.overflow
        self.calls += 1
        if flags is not None and pass_ < flags.shape[1] and flags[self.t, pass_, self.shard]:
            return loss, {k: np.full_like(g, np.nan) for k, g in grads.items()}
        return loss, {k: self.scale * g for k, g in grads.items()}


def _scale_at(case: Case, t: int) -> float:
    return float(case.batches["loss_scale"][t]) if "loss_scale" in case.batches else 1.0


def _shards(case, t, log, which=None, skip=True) -> dp.Shards:
    """The shards of step ``t`` (or only those in ``which``, one per worker)."""
    spec = case.model["parallel"]
    chosen = range(spec["workers"] * spec["micro_batches"]) if which is None else which
    fns = [_ShardFn(case, t, s, log) for s in chosen]
    workers = spec["workers"] if which is None else len(fns)
    return dp.Shards(fns, workers, _scale_at(case, t), check_finite=skip)


def run_parallel_reference(
    case: Case, bug: ParallelBug = ParallelBug()
) -> tuple[Trajectory, list[bool]]:
    """The trajectory of the reference (or of ``bug``) on ``case``, and which steps it skipped."""
    opt = make_optimizer(case)
    if bug.step_per_micro_batch:  # k optimizer steps per batch: batch t's lr and rho for each
        k = case.model["parallel"]["micro_batches"]
        opt.lr, opt.rho = (lambda t: case.lr[t // k]), (lambda t: case.rho[t // k])
    skipped = []
    with ms.use_backend("numpy"), np.errstate(all="ignore"):
        params = {k: np.array(v, dtype=np.float64) for k, v in case.init.items()}
        state = opt.init(params)
        recorder = Recorder(list(params))
        log = _StepLog(recorder)
        for t in range(case.steps):
            recorder.start_step()
            if bug.step_per_micro_batch:
                params, state = _micro_steps(case, opt, params, state, t, log)
                skipped.append(False)
            else:
                shards = _shards(case, t, log, skip=bug.skip_non_finite)
                params, state, info = _one_step(case, opt, params, state, shards, bug)
                skipped.append(info.skipped)
            log.flush()
            recorder.end_step(opt.eval_params(params, state))
    return recorder.trajectory(), skipped


def _one_step(case, opt, params, state, shards, bug):
    if case.optimizer != "sam":
        return dp.step(opt, params, state, shards)
    groups = _groups(case, shards, bug)
    norm_scale = shards.scale if bug.norm_scale else 1.0
    return dp.step(opt, params, state, shards, groups=groups, norm_scale=norm_scale)


def _micro_steps(case, opt, params, state, t, log):
    """The ``step_per_micro_batch`` pitfall: one optimizer step per micro-batch index ``j``,
    over every worker's micro-batch ``j`` (all-reduced)."""
    spec = case.model["parallel"]
    k = spec["micro_batches"]
    for j in range(k):
        shards = _shards(case, t, log, which=[r * k + j for r in range(spec["workers"])])
        params, state, _ = dp.step(opt, params, state, shards)
    return params, state


def parallel_bugs(case: Case) -> list[ParallelBug]:
    """The pitfalls that make sense on ``case`` (whether they show is another question)."""
    spec = case.model["parallel"]
    sam, k, w = case.optimizer == "sam", spec["micro_batches"], spec["workers"]
    bugs = []
    if sam and spec["sam_ascent"] == "local":
        bugs += [ParallelBug("first_pass_all_reduced", ascent="global")]
        bugs += [ParallelBug("no_sync_backward_only", ascent="global")]
    if sam and spec["sam_ascent"] == "global" and w > 1:
        bugs.append(ParallelBug("first_pass_not_all_reduced", ascent="per-worker"))
    if sam and spec["sam_ascent"] == "global" and k > 1:
        bugs.append(ParallelBug("perturb_per_micro_batch", ascent="per-shard"))
    if k > 1:
        bugs.append(ParallelBug("step_per_micro_batch", step_per_micro_batch=True))
    if sam and "loss_scale" in case.batches:
        bugs.append(ParallelBug("loss_scale_in_norm", norm_scale=True))
    if "overflow" in case.batches:
        bugs.append(ParallelBug("non_finite_not_skipped", skip_non_finite=False))
    return bugs


def _build(setting: ParallelSetting, workers: int, seed: int) -> Case:
    rng = np.random.default_rng(seed)
    model = problems.mlp_model(SIZES)
    model["parallel"] = {
        "workers": workers,
        "micro_batches": setting.micro_batches,
        "sam_ascent": setting.sam_ascent,
    }
    batches = {
        "x": rng.normal(size=(STEPS, BATCH, SIZES[0])),
        "y": rng.integers(0, SIZES[-1], size=(STEPS, BATCH)).astype(np.int64),
    }
    n_shards = workers * setting.micro_batches
    if setting.loss_scale is not None:
        passes = 2 if setting.optimizer == "sam" else 1
        flags = np.zeros((STEPS, passes, n_shards), dtype=np.int8)
        for t, p, s in setting.overflow:
            flags[t, p, s % n_shards] = 1
        batches["overflow"] = flags
        batches["loss_scale"] = np.full(STEPS, setting.loss_scale)
    case = Case(
        name=setting.name,
        optimizer=setting.optimizer,
        description=f"{setting.description}; {workers} worker(s)",
        model=model,
        hyperparameters={"momentum": 0.9, "weight_decay": 1e-2},
        lr=[0.1] * STEPS,
        rho=[setting.rho] * STEPS,
        restore_before_step=None,
        init=problems.init_params(model, seed=3),
        batches=batches,
    )
    if setting.loss_scale is not None:  # the scale each step sees, by the scaler's rule
        _, skipped = run_parallel_reference(case)
        scaler, scales = dp.LossScaler(scale=setting.loss_scale), []
        for was_skipped in skipped:
            scales.append(scaler.scale)
            scaler = scaler.update(was_skipped)
        batches["loss_scale"] = np.array(scales)
    case.reference, _ = run_parallel_reference(case)
    case.pitfalls = [
        b.name
        for b in parallel_bugs(case)
        if first_divergence(run_parallel_reference(case, b)[0], case.reference) is not None
    ]
    return case


def build_parallel_cases(world_size: int = 2, optimizers: list[str] | None = None) -> list[Case]:
    """The data-parallel cases for ``world_size`` workers (all, or those of ``optimizers``)."""
    validate_world_size(world_size)
    # one seed for all: every case has the same init and batches, so two cases differ by
    # their setting only (dp-sam-global against dp-sam-local: the ascent alone)
    return [
        _build(s, world_size, seed=24)
        for s in SETTINGS
        if optimizers is None or s.optimizer in optimizers
    ]


def check_parallel_case(
    case: Case, got: Trajectory, atol: float = ATOL, rtol: float = RTOL, error: str | None = None
) -> CaseResult:
    """The verdict on ``got``: pass, or FAIL with the first divergence and every
    parallel pitfall whose trajectory ``got`` matches (else the nearest one as a hint)."""
    result = compared(case, got, atol, rtol, error)
    if result.passed:
        return result
    nearest, nearest_diff = None, np.inf
    for bug in parallel_bugs(case):
        if bug.name not in case.pitfalls:
            continue  # this case cannot tell this bug from the reference
        trajectory, _ = run_parallel_reference(case, bug)
        if first_divergence(got, trajectory, atol, rtol) is None:
            result.diagnoses.append(Diagnosis(bug.name, bug.name, PARALLEL_PITFALLS[bug.name]))
            continue
        delta = max_difference(got, trajectory)
        if delta < nearest_diff:
            nearest, nearest_diff = f"{bug.name}, max |diff| {delta:.2e}", delta
    if not result.diagnoses and nearest_diff >= result.max_diff:  # no pitfall is nearer
        nearest = f"the reference itself, max |diff| {result.max_diff:.2e}; no pitfall is nearer"
    result.nearest = None if result.diagnoses else nearest
    return result
