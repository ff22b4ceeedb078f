"""One optimizer step across simulated workers, micro-batches and a loss scale.

The global batch ``B`` is split into equal *shards*: ``W`` workers, each running ``k``
micro-batches one after another (``S = W k`` shards, shard ``s`` belongs to worker
``s // k``). ``g_s(x)`` is the mean-loss gradient on shard ``s`` and

    g(x) = (1/S) sum_s g_s(x)

the gradient of the whole batch: summed on each worker (accumulation, no
communication), then averaged over the workers (one all-reduce per pass, counted in
:class:`Collectives`). Every optimizer that takes one gradient per step (SGD, NAG,
MSAM, AdamW, AdamW-MSAM) simply steps with ``g``: MSAM's perturbation point
``w - rho v / (||v|| + EPS)`` depends on the momentum ``v`` only, which is identical
on every worker, so it needs no extra communication and the step equals the
one-process step on ``B``. SAM's ascent has two variants (``sam_ascent``)::

    'global':  e   = rho g(w) / (||g(w)|| + EPS)                 first pass all-reduced
               d   = g(w + e) + lam w                            = one-process SAM on B
    'local':   e_s = rho g_s(w) / (||g_s(w)|| + EPS)             no communication
               d   = (1/S) sum_s g_s(w + e_s) + lam w            second pass all-reduced

('local' is the SAM paper's m-sharpness with m = the shard size; with one worker and
``k`` micro-batches the shards are the micro-batches.)

Loss scaling (:class:`LossScaler`): the shard gradients arrive multiplied by the scale
``s`` (the backward pass of ``s * loss``); the step divides by ``s`` before anything
else, so the norm, ``rho`` and ``EPS`` never see it. If any entry of either pass is
inf or NaN the whole step is skipped: ``w``, the buffers and the step count stay as
they were, and the scaler backs off (torch's ``GradScaler`` rule). A non-finite first
pass ends the step there (there is no point to ascend to).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from minimsam.backend import get_backend
from minimsam.optim.base import EPS, Optimizer, axpy, global_norm, scale
from minimsam.optim.sam import SAM

__all__ = [
    "ASCENTS",
    "Collectives",
    "LossScaler",
    "ParallelStep",
    "Shards",
    "shard_slices",
    "step",
]

ASCENTS = ("global", "local")
GradFn = Callable[[dict], tuple[float, dict]]


def shard_slices(batch_size: int, workers: int, micro_batches: int = 1) -> list[slice]:
    """The ``W k`` equal slices of a batch, worker-major; a one-line ValueError otherwise."""
    shards = workers * micro_batches
    if workers < 1 or micro_batches < 1:
        raise ValueError(f"workers and micro_batches must be >= 1, got {workers}, {micro_batches}")
    if shards > batch_size:
        raise ValueError(
            f"{workers} worker(s) x {micro_batches} micro-batch(es) = {shards} shards is more "
            f"than the batch of {batch_size} examples; use fewer workers"
        )
    if batch_size % shards:
        raise ValueError(
            f"a batch of {batch_size} examples does not split into {shards} equal shards "
            f"({workers} worker(s) x {micro_batches} micro-batch(es)); make it a divisor"
        )
    size = batch_size // shards
    return [slice(i * size, (i + 1) * size) for i in range(shards)]


@dataclass(frozen=True)
class LossScaler:
    """A loss scale and torch's ``GradScaler`` update rule (pure: ``update`` returns a new one).

    After a skipped step ``scale *= backoff_factor``; after ``growth_interval`` steps in a
    row without one, ``scale *= growth_factor``. Powers of two keep ``s g / s == g`` exact.
    """

    scale: float = 2.0**16
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    growth_interval: int = 2000
    good_steps: int = 0

    def update(self, skipped: bool) -> LossScaler:
        if skipped:
            return replace(self, scale=self.scale * self.backoff_factor, good_steps=0)
        if self.good_steps + 1 >= self.growth_interval:
            return replace(self, scale=self.scale * self.growth_factor, good_steps=0)
        return replace(self, good_steps=self.good_steps + 1)


class Collectives:
    """The simulated communication between workers: counts the all-reduces."""

    def __init__(self):
        self.all_reduces = 0

    def all_reduce_mean(self, per_worker: list[dict]) -> dict:
        """``(1/W) sum_w x_w``: one all-reduce when there is more than one worker."""
        if len(per_worker) > 1:
            self.all_reduces += 1
        total = per_worker[0]
        for x in per_worker[1:]:
            total = axpy(1.0, x, total)
        return scale(1.0 / len(per_worker), total)


class _NonFinite(Exception):
    """A pass produced an inf or NaN gradient: the step is skipped."""


class Shards:
    """The shards' gradient functions, with the scale, the accumulation and the all-reduce.

    Args:
        grad_fns: ``grad_fn_s(point) -> (loss, grads)`` for each shard, worker-major.
        workers: ``W``; ``len(grad_fns)`` must be a multiple of it.
        scale: the loss scale the gradients arrive multiplied by (1: none).
        collectives: counts the all-reduces.
        on_evaluation: ``(point, loss, grads)`` per shard evaluation, e.g. a recorder.
        check_finite: skip the step on an inf or NaN (False: let it reach the weights,
            the ``non_finite_not_skipped`` pitfall of the cross-check).
    """

    def __init__(
        self,
        grad_fns: Sequence[GradFn],
        workers: int,
        scale: float = 1.0,
        collectives: Collectives | None = None,
        on_evaluation: Callable | None = None,
        check_finite: bool = True,
    ):
        if len(grad_fns) % workers:
            raise ValueError(f"{len(grad_fns)} shards do not split evenly over {workers} workers")
        self.grad_fns, self.workers, self.scale = list(grad_fns), workers, scale
        self.micro_batches = len(grad_fns) // workers
        self.collectives = collectives or Collectives()
        self.on_evaluation = on_evaluation
        self.check_finite = check_finite
        self.first_loss = self.last_loss = None

    def worker_of(self, shard: int) -> int:
        return shard // self.micro_batches

    def local(self, shard: int, point: dict) -> dict:
        """``g_s(point)``, unscaled (``s g_s / s``); the loss is the first call's to log."""
        loss, scaled = self.grad_fns[shard](point)
        grads = {k: g / self.scale for k, g in scaled.items()}
        if self.on_evaluation is not None:
            self.on_evaluation(point, loss, grads)
        if self.first_loss is None:
            self.first_loss = loss
        self.last_loss = loss
        return grads

    def mean(self, grads: list[dict], shards: list[int]) -> dict:
        """The mean over ``shards``: summed on each worker, then all-reduced across workers."""
        per_worker: dict[int, list[dict]] = {}
        for s, g in zip(shards, grads):
            per_worker.setdefault(self.worker_of(s), []).append(g)
        sums = [self._accumulate(gs) for gs in per_worker.values()]
        counts = [len(gs) for gs in per_worker.values()]
        if len(set(counts)) != 1:
            raise ValueError("every worker must hold the same number of the averaged shards")
        return self.collectives.all_reduce_mean(sums)

    @staticmethod
    def _accumulate(grads: list[dict]) -> dict:
        """``(1/k) sum_j g_j`` added micro-batch by micro-batch, as ``.grad`` accumulates."""
        total = scale(1.0 / len(grads), grads[0])
        for g in grads[1:]:
            total = axpy(1.0 / len(grads), g, total)
        return total

    def global_grad(self, point: dict) -> tuple[float, dict]:
        """``(mean loss, g(point))`` over every shard, for ``optimizer.step``; raises
        :class:`_NonFinite` on an inf or NaN."""
        shards = list(range(len(self.grad_fns)))
        losses, grads = [], []
        for s in shards:
            grads.append(self.local(s, point))
            losses.append(self.last_loss)
        return float(np.mean(losses)), self.finite(self.mean(grads, shards))

    def finite(self, tree: dict) -> dict:
        """``tree``, or :class:`_NonFinite` if an entry is inf or NaN (and checks are on)."""
        return _finite(tree) if self.check_finite else tree

    def per_worker_groups(self) -> list[list[int]]:
        """The shards of each worker: an ascent per worker, accumulated but not all-reduced."""
        k = self.micro_batches
        return [list(range(w * k, (w + 1) * k)) for w in range(self.workers)]


def _finite(tree: dict) -> dict:
    """``tree`` itself, or :class:`_NonFinite` if any entry is inf or NaN."""
    xp = get_backend().xp
    if not all(bool(xp.all(xp.isfinite(x))) for x in tree.values()):
        raise _NonFinite
    return tree


@dataclass
class ParallelStep:
    """What one step did: the first loss worker 0 saw (the one it logs), whether the step
    was skipped, and how many all-reduces it made."""

    loss: float | None
    skipped: bool
    all_reduces: int


def step(
    optimizer: Optimizer,
    params: dict,
    state: dict,
    shards: Shards,
    sam_ascent: str = "global",
    *,
    groups: list[list[int]] | None = None,
    norm_scale: float = 1.0,
) -> tuple[dict, dict, ParallelStep]:
    """One step of ``optimizer`` on the batch that ``shards`` cover; ``(params, state, info)``.

    A skipped step (an inf or NaN in either pass) returns ``params`` and ``state``
    themselves. ``sam_ascent`` ('global' or 'local') matters for :class:`SAM` only;
    ``groups`` (the shards sharing one ascent) and ``norm_scale`` override it, for
    the cross-check's pitfalls (:func:`sam_step`).
    """
    if sam_ascent not in ASCENTS:
        raise ValueError(f"sam_ascent must be one of {ASCENTS}, got {sam_ascent!r}")
    before = shards.collectives.all_reduces
    try:
        if isinstance(optimizer, SAM):
            groups = groups or ascent_groups(len(shards.grad_fns), sam_ascent)
            params_next, state_next = sam_step(optimizer, params, state, shards, groups, norm_scale)
        else:
            params_next, state_next, _ = optimizer.step(params, state, shards.global_grad)
    except (_NonFinite, FloatingPointError):
        params_next, state_next, skipped = params, state, True
    else:
        skipped = False
    spent = shards.collectives.all_reduces - before
    return params_next, state_next, ParallelStep(shards.first_loss, skipped, spent)


def ascent_groups(n_shards: int, sam_ascent: str) -> list[list[int]]:
    """The shards that share one ascent: all of them ('global'), or each alone ('local')."""
    if sam_ascent == "global":
        return [list(range(n_shards))]
    return [[s] for s in range(n_shards)]


def sam_step(
    opt: SAM,
    w: dict,
    state: dict,
    shards: Shards,
    groups: list[list[int]],
    norm_scale: float = 1.0,
) -> tuple[dict, dict]:
    """SAM with one ascent per group of shards (a group spanning workers is all-reduced)::

        e_G = rho g_G(w) / (norm_scale ||g_G(w)|| + EPS),   g_G = mean of g_s, s in G
        d   = (1/S) sum_s g_s(w + e_{G(s)}) + lam w         (second pass all-reduced)
        v   = mu v + d;   w = w - eta v

    ``norm_scale`` is 1 in the reference (the loss scale never reaches the norm).
    """
    t = int(state["step"])
    lr, rho, mu = opt.hyper("lr", t), opt.hyper("rho", t), opt.momentum
    first = {s: shards.local(s, w) for group in groups for s in group}
    perturbed = {}
    for group in groups:
        g1 = shards.finite(shards.mean([first[s] for s in group], group))
        coef = rho / (norm_scale * global_norm(g1) + EPS)
        point = axpy(coef, g1, w)  # w + e_G
        perturbed.update({s: point for s in group})
    order = sorted(perturbed)
    second = [shards.local(s, perturbed[s]) for s in order]
    g2 = shards.finite(shards.mean(second, order))
    d = axpy(opt.weight_decay, w, g2)  # d = g + lam w, decay at the unperturbed w
    v_next = axpy(mu, state["momentum"], d)
    w_next = axpy(-lr, v_next, w)
    return w_next, {**state, "step": t + 1, "momentum": v_next}
