"""The hand-written gradients of the test problems agree with central differences."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms

from .problems import mlp_problem, quadratic_problem, rosenbrock_problem, split_quadratic_problem


def _central_differences(grad_fn, params, h=1e-6):
    host = {k: np.array(ms.to_numpy(v)) for k, v in params.items()}
    out = {}
    for k, x in host.items():
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            for sign in (1.0, -1.0):
                shifted = {**host, k: x.copy()}
                shifted[k][i] += sign * h
                loss, _ = grad_fn(ms.asarray(shifted))
                g[i] += sign * float(ms.to_numpy(loss)) / (2 * h)
        out[k] = g
    return out


@pytest.mark.parametrize(
    "make",
    [
        lambda: quadratic_problem([[3.0, 1.0], [1.0, 2.0]], [1.0, -1.0], [0.3, -0.7]),
        lambda: split_quadratic_problem([1.0, 2.0, 3.0], [0.5, -1.0, 2.0], split=1),
        lambda: rosenbrock_problem(x0=-0.5, y0=0.8),
        lambda: mlp_problem(seed=5),
    ],
    ids=["quadratic", "split", "rosenbrock", "mlp"],
)
def test_gradients_match_finite_differences(backend, make):
    params, grad_fn = make()
    _, grads = grad_fn(params)
    numeric = _central_differences(grad_fn, params)
    for k, g in ms.to_numpy(grads).items():
        np.testing.assert_allclose(g, numeric[k], rtol=1e-6, atol=1e-8, err_msg=k)
