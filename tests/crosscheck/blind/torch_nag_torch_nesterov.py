"""NAG for PyTorch: torch.optim.SGD with nesterov=True."""

import torch


def NAG(params, lr, momentum=0.9, weight_decay=0.0):
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True
    )
