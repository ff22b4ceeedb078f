"""Hypothesis properties over random hyperparameters and starting points."""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import minimsam as ms  # noqa: E402
from minimsam import optim  # noqa: E402

from .problems import assert_tree_equal, host_copy, quadratic_problem  # noqa: E402

# the backend fixture is set once per test function; examples do not need a fresh one
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

lrs = st.floats(0.0, 0.5)
momenta = st.floats(0.0, 0.99)
decays = st.floats(0.0, 0.1)
rhos = st.floats(0.0, 3.0)
starts = st.lists(st.floats(-5.0, 5.0), min_size=2, max_size=2)
A = np.array([[2.0, 0.5], [0.5, 1.0]])


def _trajectory(opt, w0, steps=6):
    params, grad_fn = quadratic_problem(A, np.array([0.3, -0.2]), w0)
    state = opt.init(params)
    out = []
    for _ in range(steps):
        params, state, info = opt.step(params, state, grad_fn)
        out.append(ms.to_numpy(opt.eval_params(params, state))["w"])
    return out


@SETTINGS
@given(lr=lrs, mu=momenta, lam=decays, rho=rhos, w0=starts, stored=st.booleans())
def test_step_never_modifies_its_inputs(backend, lr, mu, lam, rho, w0, stored):
    opt = optim.MSAM(lr, mu, rho, lam, store_perturbed=stored)
    params, grad_fn = quadratic_problem(A, np.zeros(2), w0)
    params, state, _ = opt.step(params, opt.init(params), grad_fn)
    before = host_copy({"params": params, "state": state})
    opt.step(params, state, grad_fn, trace=True)
    assert_tree_equal({"params": params, "state": state}, before)


@SETTINGS
@given(lr=lrs, mu=momenta, lam=decays, w0=starts, stored=st.booleans())
def test_msam_with_rho_zero_is_sgd_momentum(backend, lr, mu, lam, w0, stored):
    msam = _trajectory(optim.MSAM(lr, mu, 0.0, lam, store_perturbed=stored), w0)
    sgd = _trajectory(optim.SGD(lr, mu, lam), w0)
    for a, b in zip(msam, sgd):
        np.testing.assert_array_equal(a, b)


@SETTINGS
@given(lr=lrs, mu=momenta, lam=decays, w0=starts)
def test_sam_with_rho_zero_is_sgd_momentum(backend, lr, mu, lam, w0):
    for a, b in zip(
        _trajectory(optim.SAM(lr, mu, 0.0, lam), w0), _trajectory(optim.SGD(lr, mu, lam), w0)
    ):
        np.testing.assert_array_equal(a, b)


@SETTINGS
@given(lr=lrs, mu=momenta, lam=decays, rho=rhos, w0=starts)
def test_both_msam_forms_agree(backend, lr, mu, lam, rho, w0):
    textbook = _trajectory(optim.MSAM(lr, mu, rho, lam), w0)
    memory_free = _trajectory(optim.MSAM(lr, mu, rho, lam, store_perturbed=True), w0)
    for a, b in zip(memory_free, textbook):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
