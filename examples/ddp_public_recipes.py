"""Two public SAM-under-data-parallelism recipes, as recipes for the data-parallel runner.

Only the logic of each recipe is described here, in this project's own code (no code of
theirs is copied); run them with::

    minimsam crosscheck torch --optimizer sam --world-size 2 \\
        --impl minimsam.torch:SAM --adapter examples.ddp_public_recipes:Davda54ReadmeTip \\
        --case dp-sam-global dp-sam-local
    minimsam crosscheck torch --optimizer sam --world-size 2 \\
        --impl examples.ddp_public_recipes:sgd_with_sam_groups \\
        --adapter examples.ddp_public_recipes:GoogleSamJax --case dp-sam-global dp-sam-local

1. davda54/sam, README.md, "Training tips", the multi-GPU tip: it quotes the SAM paper
   (each accelerator computes its own SAM gradient on its sub-batch, and the sub-batch
   SAM gradients are averaged), and to get there runs the first forward pass as usual
   and only its ``backward()`` inside ``model.no_sync()``; then ``first_step``, a second
   forward-backward pass (all-reduced), ``second_step``. Any SAM with
   ``first_step``/``second_step`` fits; minimsam.torch's SAM stands in for the
   repository's class (same update, decay at ``w``, ``EPS = 1e-12``).

2. google-research/sam, ``sam_jax/training_utils/flax_training.py``, ``train_step`` /
   ``get_sam_gradient`` (the SAM authors' JAX code, run with ``pmap``): the L2 penalty
   ``0.5 lam ||w||^2`` is part of the loss, so both gradients carry ``lam x`` at the
   point ``x`` where they are taken; the first gradient is averaged across replicas only
   with the flag ``sync_perturbations`` (default False: each replica ascends along its
   own gradient); the ascent divides by the norm with no epsilon; the second gradient,
   at ``w + e``, is averaged across replicas (``pmean``) and handed to the base
   optimizer at ``w``. Here the base optimizer is ``torch.optim.SGD`` with momentum
   (:func:`sgd_with_sam_groups`), the case's heavy-ball base.
"""

from __future__ import annotations

import torch

from minimsam.crosscheck.parallel_adapters import ParallelRecipe

__all__ = ["Davda54ReadmeTip", "GoogleSamJax", "GoogleSamJaxSynced", "sgd_with_sam_groups"]


class Davda54ReadmeTip(ParallelRecipe):
    """davda54/sam README multi-GPU tip: ``no_sync`` around the first ``backward`` only."""

    def step(self) -> None:
        self.zero_grad()
        loss = self.forward(0)  # the forward pass runs outside no_sync ...
        with self.model.no_sync():
            loss.backward()  # ... only the backward pass is inside it
        self.optimizer.first_step(zero_grad=True)
        self.forward(0).backward()
        self.optimizer.second_step(zero_grad=True)


def sgd_with_sam_groups(params, lr, momentum, weight_decay, rho):
    """The base optimizer of :class:`GoogleSamJax`: SGD with momentum and no decay of its
    own (the L2 term is in the loss); ``rho`` and ``l2`` ride along in each param group."""
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum)
    for group in optimizer.param_groups:
        group["rho"], group["l2"] = rho, weight_decay
    return optimizer


class GoogleSamJax(ParallelRecipe):
    """google-research/sam's ``train_step``: per-replica ascent unless ``sync_perturbations``."""

    sync_perturbations = False  # the flag's default in that code

    def _gradient_with_l2(self, sync: bool) -> list[torch.Tensor]:
        """Forward + backward of this worker's loss; ``grad + l2 * x`` at the current ``x``."""
        self.zero_grad()
        context = torch.enable_grad() if sync else self.model.no_sync()
        with context:
            self.forward(0).backward()
        l2 = self.optimizer.param_groups[0]["l2"]
        return [p.grad + l2 * p.detach() for p in self.params]

    def step(self) -> None:
        rho = self.optimizer.param_groups[0]["rho"]
        first = self._gradient_with_l2(sync=self.sync_perturbations)
        norm = torch.sqrt(sum((g * g).sum() for g in first))  # no epsilon
        w = [p.detach().clone() for p in self.params]  # the functional code keeps w as is
        with torch.no_grad():
            for p, g in zip(self.params, first):
                p.add_(rho * g / norm)  # w + e
        second = self._gradient_with_l2(sync=True)  # pmean of the second gradient
        with torch.no_grad():
            for p, w_p, g in zip(self.params, w, second):
                p.copy_(w_p)
                p.grad = g
        self.optimizer.step()


class GoogleSamJaxSynced(GoogleSamJax):
    """The same with ``sync_perturbations=True``: the first gradient averaged first."""

    sync_perturbations = True
