"""Recipes with the data-parallel pitfalls built in, and optimizers whose worker fails,
for tests/crosscheck/test_parallel_runner.py (importable by the spawned workers)."""

from __future__ import annotations

import os

import torch.distributed as dist

from minimsam.crosscheck.parallel_adapters import StepRecipe
from minimsam.torch import SAM


class NoSyncAroundBackwardOnly(StepRecipe):
    """SAM's first pass: forward outside ``no_sync``, only ``backward`` inside it (a no-op:
    DDP decided at forward time); and a non-finite pass is never skipped."""

    def step(self):
        calls = []

        def closure():
            first = not calls
            calls.append(1)
            self.zero_grad()
            loss = self.forward(0)
            if first and self.sam_ascent == "local":
                with self.model.no_sync():
                    loss.backward()
            else:
                loss.backward()
            self.unscale()
            return loss

        self.optimizer.step(closure)


class FirstPassNeverSynced(StepRecipe):
    """SAM's first pass never all-reduced, whatever the case asks for."""

    @property
    def sam_ascent(self):
        return "local"

    @sam_ascent.setter
    def sam_ascent(self, value):
        pass  # what the case asks for is ignored


class NormBeforeUnscale(StepRecipe):
    """The ascent's length divided by s: the norm of the scaled gradient with the unscaled
    direction (as if rho / ||s g|| were taken before unscaling)."""

    def step(self):
        for group in self.optimizer.param_groups:
            group["rho"] = group["rho"] / self.loss_scale
        super().step()


class StepPerMicroBatch(StepRecipe):
    """Accumulation done wrong: the optimizer steps after every micro-batch (each such
    step skipped, as it should be, if its gradient is not finite)."""

    def step(self):
        for j in range(self.micro_batches):
            saved, finite = self.snapshot(), []

            def closure(j=j, finite=finite):
                self.zero_grad()
                loss = self.forward(j) * self.micro_batches  # one micro-batch's mean loss
                loss.backward()
                finite.append(self.unscale())
                return loss

            self.optimizer.step(closure)
            if not all(finite):
                self.restore(saved)


def sam_raising_on_worker_1(params, **kwargs):
    """minimsam.torch.SAM whose step raises on worker 1 at the third step."""
    opt = SAM(params, **kwargs)
    step, count = opt.step, []

    def failing(*args, **kw):
        count.append(1)
        if dist.get_rank() == 1 and len(count) == 3:
            raise RuntimeError("simulated failure in worker 1")
        return step(*args, **kw)

    opt.step = failing
    return opt


def sam_dying_on_worker_0(params, **kwargs):
    """minimsam.torch.SAM whose process exits abruptly on worker 0 at the second step."""
    opt = SAM(params, **kwargs)
    step, count = opt.step, []

    def dying(*args, **kw):
        count.append(1)
        if dist.get_rank() == 0 and len(count) == 2:
            os._exit(3)
        return step(*args, **kw)

    opt.step = dying
    return opt


def sam_hanging_on_worker_0(params, **kwargs):
    """minimsam.torch.SAM whose worker 0 stops responding at the second step."""
    import time

    opt = SAM(params, **kwargs)
    step, count = opt.step, []

    def hanging(*args, **kw):
        count.append(1)
        if dist.get_rank() == 0 and len(count) == 2:
            time.sleep(3600)
        return step(*args, **kw)

    opt.step = hanging
    return opt
