"""The SAM family of ``pytorch_optimizer`` (PyPI) through the PyTorch runner, with the
factories a user would write. Each turns the case's keywords into the optimizer's::

    minimsam crosscheck torch --optimizer sam --impl examples.pytorch_optimizer_sam:make_sam

The verdicts these get, and why, are listed in FORMAT.md ("Real code") and asserted by
tests/crosscheck/test_pytorch_optimizer.py.
"""

import torch
from pytorch_optimizer import SAM, WSAM, FriendlySAM, LookSAM


def make_sam(params, lr, momentum, rho, weight_decay):
    """SAM over torch.optim.SGD: the reference algorithm."""
    return SAM(
        params, torch.optim.SGD, rho=rho, lr=lr, momentum=momentum, weight_decay=weight_decay
    )


def make_asam(params, lr, momentum, rho, weight_decay):
    """Adaptive SAM (``adaptive=True``): the perturbation scaled by ``w**2``, another algorithm."""
    return SAM(
        params, torch.optim.SGD, rho=rho, adaptive=True, lr=lr, momentum=momentum,
        weight_decay=weight_decay,
    )  # fmt: skip


def make_looksam(params, lr, momentum, rho, weight_decay):
    """LookSAM with ``k=1``: the SAM gradient is recomputed on every step."""
    return LookSAM(
        params, torch.optim.SGD, rho=rho, k=1, lr=lr, momentum=momentum, weight_decay=weight_decay
    )


def make_wsam(params, model, lr, momentum, rho, weight_decay):
    """Weighted SAM wants the model; ``gamma=0.5`` weighs the sharpness term like SAM."""
    return WSAM(
        model, params, torch.optim.SGD, rho=rho, gamma=0.5, lr=lr, momentum=momentum,
        weight_decay=weight_decay,
    )  # fmt: skip


def make_friendly_sam(params, lr, momentum, rho, weight_decay):
    """FriendlySAM removes a running mean of the gradient from the perturbation."""
    return FriendlySAM(
        params, torch.optim.SGD, rho=rho, lr=lr, momentum=momentum, weight_decay=weight_decay
    )
