"""Oracle: SGD and AdamW trajectories equal ``torch.optim``'s (float64, 50 steps, 1e-10).

Both sides optimise the same tanh MLP from the same weights; ours takes the hand-written
gradient of ``problems.mlp_problem``, torch its own autograd gradient of the same function.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim

from .problems import mlp_data, mlp_problem

torch = pytest.importorskip("torch")

STEPS = 50

CASES = {
    "SGD momentum": (
        lambda: optim.SGD(0.1, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    ),
    "SGD momentum weight decay": (
        lambda: optim.SGD(0.05, momentum=0.5, weight_decay=1e-2),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.5, weight_decay=1e-2),
    ),
    "SGD nesterov weight decay": (
        lambda: optim.SGD(0.1, momentum=0.9, weight_decay=1e-3, nesterov=True),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3, nesterov=True),
    ),
    "SGD plain weight decay": (
        lambda: optim.SGD(0.2, weight_decay=1e-2),
        lambda ps: torch.optim.SGD(ps, lr=0.2, weight_decay=1e-2),
    ),
    "AdamW": (
        lambda: optim.AdamW(0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
        lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
    ),
    "AdamW other betas, strong decay": (
        lambda: optim.AdamW(0.03, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.3),
        lambda ps: torch.optim.AdamW(ps, lr=0.03, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.3),
    ),
}


def _torch_loss(p, X, Y):
    h = torch.tanh(X @ p["W1"] + p["b1"])
    out = h @ p["W2"] + p["b2"]
    return ((out - Y) ** 2).mean()


@pytest.mark.parametrize("case", list(CASES))
def test_trajectory_equals_torch_optim(backend, case):
    make_ours, make_torch = CASES[case]
    X, Y, host_params = mlp_data(seed=4)
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    p_t = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in host_params.items()
    }
    torch_opt = make_torch(list(p_t.values()))

    params, grad_fn = mlp_problem(seed=4)
    ours = make_ours()
    state = ours.init(params)
    for step in range(STEPS):
        torch_opt.zero_grad()
        _torch_loss(p_t, X_t, Y_t).backward()
        torch_opt.step()
        params, state, _ = ours.step(params, state, grad_fn)
        for k, v in ms.to_numpy(params).items():
            np.testing.assert_allclose(
                v, p_t[k].detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"{k}, step {step}"
            )
