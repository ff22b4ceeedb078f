"""Test problems with hand-written gradients, on the active backend.

Each ``*_problem`` returns ``(params, grad_fn)``: ``params`` a dict of device arrays,
``grad_fn(params) -> (loss, grads)`` as the optimizers expect. The gradients are
written out by hand (no autodiff), so these tests do not depend on
:mod:`minimsam.autodiff`; ``tests/optim/test_problems.py`` checks them against finite
differences.
"""

from __future__ import annotations

import numpy as np

import minimsam as ms


def quadratic_problem(A, b, w0):
    """``f(w) = 0.5 w^T A w - b^T w`` with params ``{"w": w0}``; ``grad f = A w - b``.

    For a symmetric positive definite ``A`` the minimum is ``w* = A^{-1} b``.
    """
    A, b = ms.asarray(np.asarray(A, float)), ms.asarray(np.asarray(b, float))

    def grad_fn(params):
        w = params["w"]
        Aw = A @ w
        return 0.5 * (w @ Aw) - b @ w, {"w": Aw - b}

    return {"w": ms.asarray(np.asarray(w0, float))}, grad_fn


def split_quadratic_problem(diag, w0, split):
    """``f = 0.5 sum_i diag_i w_i**2`` with ``w`` split into params ``"a" = w[:split]``
    and ``"b" = w[split:]``: global norms must span both keys."""
    d = np.asarray(diag, float)
    da, db = ms.asarray(d[:split]), ms.asarray(d[split:])

    def grad_fn(params):
        a, b = params["a"], params["b"]
        loss = 0.5 * ((da * a * a).sum() + (db * b * b).sum())
        return loss, {"a": da * a, "b": db * b}

    w0 = np.asarray(w0, float)
    return {"a": ms.asarray(w0[:split]), "b": ms.asarray(w0[split:])}, grad_fn


def rosenbrock_problem(x0=-1.2, y0=1.0, a=1.0, b=100.0):
    """``f(x, y) = (a - x)**2 + b (y - x**2)**2``, minimum 0 at ``(a, a**2)``::

    df/dx = -2 (a - x) - 4 b x (y - x**2),   df/dy = 2 b (y - x**2)
    """

    def grad_fn(params):
        x, y = params["x"], params["y"]
        r = y - x * x
        loss = ((a - x) ** 2 + b * r * r).sum()
        return loss, {"x": -2.0 * (a - x) - 4.0 * b * x * r, "y": 2.0 * b * r}

    return {"x": ms.asarray(np.array([x0])), "y": ms.asarray(np.array([y0]))}, grad_fn


def mlp_data(seed=0, n=16, d_in=3, hidden=5, d_out=2):
    """Host float64 data ``(X, Y)`` and initial params of a one-hidden-layer MLP."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d_in))
    Y = rng.normal(size=(n, d_out))
    params = {
        "W1": rng.normal(size=(d_in, hidden)) / np.sqrt(d_in),
        "b1": 0.1 * rng.normal(size=hidden),
        "W2": rng.normal(size=(hidden, d_out)) / np.sqrt(hidden),
        "b2": 0.1 * rng.normal(size=d_out),
    }
    return X, Y, params


def mlp_problem(seed=0, **sizes):
    """A tanh MLP with mean-squared-error loss, forward and backward written by hand::

    h = tanh(X W1 + b1),   out = h W2 + b2,   L = mean((out - Y)**2)
    dout = 2 (out - Y) / out.size
    dW2 = h^T dout,  db2 = sum_rows(dout),  dz = (dout W2^T) * (1 - h**2)
    dW1 = X^T dz,    db1 = sum_rows(dz)
    """
    X, Y, params = mlp_data(seed, **sizes)
    X, Y = ms.asarray(X), ms.asarray(Y)
    xp = ms.get_backend().xp

    def grad_fn(p):
        h = xp.tanh(X @ p["W1"] + p["b1"])
        out = h @ p["W2"] + p["b2"]
        diff = out - Y
        loss = (diff * diff).mean()
        dout = 2.0 * diff / diff.size
        dz = (dout @ p["W2"].T) * (1.0 - h * h)
        grads = {"W1": X.T @ dz, "b1": dz.sum(axis=0), "W2": h.T @ dout, "b2": dout.sum(axis=0)}
        return loss, grads

    return ms.asarray(params), grad_fn


def run(opt, params, grad_fn, steps, state=None):
    """``steps`` optimizer steps; returns ``(params, state, [eval params after each step])``."""
    state = opt.init(params) if state is None else state
    trajectory = []
    for _ in range(steps):
        params, state, _ = opt.step(params, state, grad_fn)
        trajectory.append(ms.to_numpy(opt.eval_params(params, state)))
    return params, state, trajectory


def host_copy(tree):
    """A host copy of a state or params dict (``to_numpy`` may alias NumPy inputs)."""
    return {
        k: host_copy(v) if isinstance(v, dict) else np.array(ms.to_numpy(v))
        for k, v in tree.items()
    }


def assert_tree_close(actual, expected, rtol=1e-12, atol=1e-14):
    """Compare two params dicts (any backend) key by key on the host."""
    actual, expected = ms.to_numpy(actual), ms.to_numpy(expected)
    assert list(actual) == list(expected)
    for k in expected:
        np.testing.assert_allclose(actual[k], expected[k], rtol=rtol, atol=atol, err_msg=k)


def assert_tree_equal(actual, expected):
    """Bitwise equality of two (possibly nested) dicts of arrays, on the host."""
    actual, expected = host_copy(actual), host_copy(expected)
    assert list(actual) == list(expected)
    for k in expected:
        if isinstance(expected[k], dict):
            assert_tree_equal(actual[k], expected[k])
        else:
            np.testing.assert_array_equal(actual[k], expected[k], err_msg=k)


def optimizers():
    """One configured instance of every optimizer form, by a readable id (fresh each call)."""
    from minimsam import optim

    return {
        "SGD": optim.SGD(0.1, momentum=0.9, weight_decay=0.01),
        "SGD-nesterov": optim.SGD(0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
        "SGD-plain": optim.SGD(0.1),
        "NAG": optim.NAG(0.1, momentum=0.9, weight_decay=0.01),
        "SAM": optim.SAM(0.1, momentum=0.9, rho=0.05, weight_decay=0.01),
        "MSAM": optim.MSAM(0.1, momentum=0.9, rho=0.3, weight_decay=0.01),
        "MSAM-stored": optim.MSAM(0.1, rho=0.3, weight_decay=0.01, store_perturbed=True),
        "AdamW": optim.AdamW(0.01, weight_decay=0.01),
        "AdamWMSAM": optim.AdamWMSAM(0.01, weight_decay=0.01, rho=0.1),
    }


OPTIMIZER_IDS = list(optimizers())
