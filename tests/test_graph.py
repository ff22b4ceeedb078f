"""A captured training step (minimsam.graph.CapturedStep) equals the plain pure step.

On cupy the step is recorded as a CUDA graph and replayed; on numpy and fakegpu the same
"step, then copy into the fixed buffers" runs directly. Either way, N calls must give
bit for bit the params, state and losses of N ordinary ``opt.step`` calls.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import nn, optim
from minimsam.graph import CapturedStep

SIZES = [20, 32, 32, 5]
OPTIMIZERS = {
    "sgd": lambda: optim.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3, check_finite=False),
    "nag": lambda: optim.NAG(lr=0.05, momentum=0.9, check_finite=False),
    "sam": lambda: optim.SAM(lr=0.05, momentum=0.9, rho=0.05, check_finite=False),
    "msam": lambda: optim.MSAM(lr=0.05, momentum=0.9, rho=0.3, check_finite=False),
    "msam-memory-free": lambda: optim.MSAM(
        lr=0.05, momentum=0.9, rho=0.3, store_perturbed=True, check_finite=False
    ),
}


def _batches(n: int):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((16, SIZES[0])).astype(np.float32),
             rng.integers(0, SIZES[-1], 16)) for _ in range(n)]  # fmt: skip


def _loss(model):
    return lambda p, x, y: nn.cross_entropy(model(p, x), y)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_captured_steps_equal_plain_steps(backend, name):
    model, batches = nn.MLP(SIZES), _batches(6)
    params = model.init(seed=0)
    opt = OPTIMIZERS[name]()
    state = opt.init(params)
    grad = ms.value_and_grad(_loss(model))
    captured = CapturedStep(opt, _loss(model), params, state, *map(ms.asarray, batches[0]))
    losses = []
    for x, y in batches:
        x, y = ms.asarray(x), ms.asarray(y)
        params, state, info = opt.step(params, state, lambda p: grad(p, x, y))  # noqa: B023
        losses.append(float(ms.to_numpy(info.loss)))
        got_loss = float(ms.to_numpy(captured(x, y)))
        assert got_loss == losses[-1]
    for k, v in params.items():
        np.testing.assert_array_equal(ms.to_numpy(captured.params[k]), ms.to_numpy(v), err_msg=k)
    got_state = captured.state
    assert got_state["step"] == state["step"] == len(batches)
    for k, v in state["momentum"].items():
        np.testing.assert_array_equal(ms.to_numpy(got_state["momentum"][k]), ms.to_numpy(v))
    assert backend.name != "cupy" or captured._graph is not None  # recorded on a GPU


def test_the_inputs_are_not_touched(backend):
    model, ((x, y),) = nn.MLP(SIZES), _batches(1)
    params = model.init(seed=0)
    opt = OPTIMIZERS["msam"]()
    state = opt.init(params)
    before = ms.to_numpy(params)
    step = CapturedStep(opt, _loss(model), params, state, ms.asarray(x), ms.asarray(y))
    step(ms.asarray(x), ms.asarray(y))
    for k, v in params.items():
        np.testing.assert_array_equal(ms.to_numpy(v), before[k])


def test_what_a_graph_would_freeze_is_refused(backend):
    model, ((x, y),) = nn.MLP(SIZES), _batches(1)
    params = model.init(seed=0)
    x, y = ms.asarray(x), ms.asarray(y)
    adamw = optim.AdamW(lr=1e-3, check_finite=False)
    with pytest.raises(ValueError, match="AdamW"):
        CapturedStep(adamw, _loss(model), params, adamw.init(params), x, y)
    scheduled = optim.SGD(lr=lambda t: 0.1, momentum=0.9, check_finite=False)
    with pytest.raises(ValueError, match="constant lr"):
        CapturedStep(scheduled, _loss(model), params, scheduled.init(params), x, y)
