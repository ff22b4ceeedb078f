"""The optimizers driven by the library's own autodiff and MLP, as the training loop does."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import nn, optim

from .problems import OPTIMIZER_IDS, optimizers


def _classification_problem(seed=0, n=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    labels = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1.0)
    model = nn.MLP([4, 16, 3], activation="tanh")
    x, labels = ms.asarray(x), ms.asarray(labels)

    def loss_fn(params):
        return nn.cross_entropy(model(params, x), labels)

    return model.init(seed=seed), ms.value_and_grad(loss_fn)


@pytest.mark.parametrize("name", OPTIMIZER_IDS)
def test_training_an_mlp_lowers_the_loss(backend, name):
    params, grad_fn = _classification_problem()
    opt = optimizers()[name]
    state = opt.init(params)
    first_loss = float(ms.to_numpy(grad_fn(params)[0]))
    for _ in range(40):
        params, state, info = opt.step(params, state, grad_fn)
    if backend.name != "numpy":  # the loss stays on the device: no host sync per step
        assert isinstance(info.loss, backend.array_type)
    final_loss = float(ms.to_numpy(grad_fn(opt.eval_params(params, state))[0]))
    assert final_loss < 0.9 * first_loss


def test_both_msam_forms_agree_on_an_mlp(backend):
    params, grad_fn = _classification_problem(seed=1)
    params = {k: v.astype("float64") for k, v in params.items()}  # compare to 1e-9
    forms = [optim.MSAM(0.1, rho=0.5, weight_decay=1e-3, store_perturbed=s) for s in (False, True)]
    results = []
    for opt in forms:
        p, state = params, opt.init(params)
        for _ in range(20):
            p, state, _ = opt.step(p, state, grad_fn)
        results.append(ms.to_numpy(opt.eval_params(p, state)))
    for k in params:
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=1e-9, atol=1e-12)
