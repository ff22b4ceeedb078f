"""Helpers shared by the minimsam.torch optimizer tests."""

from __future__ import annotations

import numpy as np


def set_rho(opt, rho, per_group):
    """Write ``rho`` times each group's ``rho_factor`` into the optimizer's param groups."""
    for group, kw in zip(opt.param_groups, per_group, strict=True):
        group["rho"] = rho * kw["rho_factor"]


def zero(params):
    for p in params.values():
        p.grad = None


def backward(problem, params, t):
    """Loss of batch ``t`` and its gradients accumulated into ``p.grad``."""
    loss = problem.loss(params, problem.batches[t])
    loss.backward()
    return loss


def fresh_backward(problem, params, t):
    """:func:`backward` after clearing the old gradients."""
    zero(params)
    return backward(problem, params, t)


def assert_tree_close(torch_tree, np_tree, atol=1e-12):
    for k, expected in np_tree.items():
        np.testing.assert_allclose(torch_tree[k].detach().numpy(), expected, rtol=0, atol=atol)
