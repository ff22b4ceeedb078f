"""A small nonlinear problem shared by the minimsam.torch tests.

A 2-layer tanh MLP with a mean-squared-error loss, float64, and a fixed sequence of
mini-batches. The same function gives gradients to the optimizers under test (through
``loss.backward()``) and to the literal NumPy transcriptions of docs/optimizers.md in the tests
(through ``MLPProblem.grad``). torch is imported lazily so that this file loads, and
the torch-free tests run, without torch.
"""

from __future__ import annotations

import numpy as np
import pytest

NAMES = ("W1", "b1", "W2", "b2")
GROUPS = (("W1", "b1"), ("W2", "b2"))  # parameter group of each name, in order


class MLPProblem:
    """Parameters ``W1 (3, 4), b1 (4,), W2 (4, 2), b2 (2,)``; batches of 5 samples."""

    def __init__(self, n_batches: int = 40, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.init = {
            "W1": rng.normal(size=(3, 4)),
            "b1": 0.1 * rng.normal(size=4),
            "W2": rng.normal(size=(4, 2)),
            "b2": 0.1 * rng.normal(size=2),
        }
        self.batches = [
            (rng.normal(size=(5, 3)), rng.normal(size=(5, 2))) for _ in range(n_batches)
        ]

    @staticmethod
    def loss(params, batch):
        """Batch-mean squared error; ``params`` maps the names to float64 tensors."""
        import torch

        x, y = (torch.as_tensor(a) for a in batch)
        hidden = torch.tanh(x @ params["W1"] + params["b1"])
        return ((hidden @ params["W2"] + params["b2"] - y) ** 2).mean()

    def grad(self, w, batch):
        """``(loss, grads)`` at the NumPy point ``w``, via torch autograd; NumPy out."""
        import torch

        leaves = {k: torch.tensor(w[k], requires_grad=True) for k in NAMES}
        loss = self.loss(leaves, batch)
        loss.backward()
        return loss.item(), {k: leaves[k].grad.numpy().copy() for k in NAMES}

    def make_params(self, values=None):
        """Fresh float64 leaf tensors, from ``values`` (NumPy or torch) or the initial point."""
        import torch

        values = self.init if values is None else values
        return {k: torch.tensor(np.asarray(values[k]), requires_grad=True) for k in NAMES}

    @staticmethod
    def groups(params, per_group):
        """Parameter groups ``[{"params": [W1, b1], **per_group[0]}, {... W2, b2 ...}]``."""
        return [
            {"params": [params[k] for k in names], **kw}
            for names, kw in zip(GROUPS, per_group, strict=True)
        ]

    @staticmethod
    def norm(tree) -> float:
        """Global L2 norm of a dict of arrays, as docs/optimizers.md defines it."""
        return float(np.sqrt(sum(np.sum(a**2) for a in tree.values())))

    @staticmethod
    def rho(t: int) -> float:
        """A radius that changes every step and is 0 at steps 0, 4, 8, ..."""
        return 0.15 * (t % 4) + 0.01 * t if t % 4 else 0.0

    @staticmethod
    def per_key(per_group, name):
        """``{param name: per_group[i][name]}`` for the NumPy transcriptions."""
        return {k: kw[name] for names, kw in zip(GROUPS, per_group, strict=True) for k in names}


@pytest.fixture
def problem():
    return MLPProblem()
