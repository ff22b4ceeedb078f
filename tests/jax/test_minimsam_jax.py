"""minimsam.jax: SAM, MSAM and AdamW-MSAM as optax transformations pass every golden
case under jax.jit, and behave as optax transformations."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
from minimsam import crosscheck  # noqa: E402
from minimsam import jax as mjax  # noqa: E402


@pytest.mark.parametrize(
    "optimizer, impl", [("sam", mjax.sam), ("msam", mjax.msam), ("adamw-msam", mjax.adamw_msam)]
)
def test_every_case_passes_under_jit(sam_family_cases, optimizer, impl):
    report = crosscheck.check_jax(sam_family_cases, optimizer, impl, jit=True)
    assert report.passed, report.format()
    assert all(r.max_diff < 1e-13 for r in report.results), report.format()
    assert "jit" in report.adapter


def test_msam_params_hold_the_perturbed_point_and_eval_params_removes_it():
    """Two steps on L = |w|^2 / 2 (gradient w), lr 0.1, mu 0.9, rho 0.5, by hand."""
    jnp = jax.numpy
    tx = mjax.msam(learning_rate=0.1, momentum=0.9, rho=0.5)
    params = {"w": jnp.array([3.0, 4.0])}
    state = tx.init(params)
    update = jax.jit(tx.update)
    updates, state = update(params, state, params)  # the gradient g(w_0) = w_0
    params = optax.apply_updates(params, updates)
    w1 = np.array([3.0, 4.0]) * (1 - 0.1)
    u1 = np.array([3.0, 4.0]) / (5.0 + 1e-12)
    np.testing.assert_allclose(
        params["w"], w1 - 0.5 * u1, rtol=1e-6, atol=1e-6
    )  # float32 unless x64 is on
    np.testing.assert_allclose(
        tx.eval_params(params, state)["w"], w1, rtol=1e-6, atol=1e-6
    )  # float32 unless x64 is on


def test_sam_takes_two_calls_per_step_and_chains_with_optax():
    tx = mjax.sam(learning_rate=0.1, momentum=0.0, rho=0.05)
    assert tx.calls_per_step == 2
    chained = optax.chain(optax.identity(), tx)  # an (init, update) pair to optax
    params = {"w": jax.numpy.array([1.0, -2.0])}
    state = chained.init(params)
    for _ in range(2):  # one SAM step: ascend along g(w) = w, then descend with g(w + e)
        updates, state = chained.update(params, state, params)
        params = optax.apply_updates(params, updates)
    w0 = np.array([1.0, -2.0])
    e = 0.05 * w0 / (np.linalg.norm(w0) + 1e-12)
    np.testing.assert_allclose(
        params["w"], w0 - 0.1 * (w0 + e), rtol=1e-6, atol=1e-6
    )  # float32 unless x64 is on


def test_without_eval_params_the_perturbed_params_are_named(sam_family_cases):
    def msam_without_eval_params(**kwargs):
        tx = mjax.msam(**kwargs)
        return optax.GradientTransformation(tx.init, tx.update)  # drops eval_params

    report = crosscheck.check_jax(
        sam_family_cases, "msam", msam_without_eval_params, names=["msam-mlp-wd-rho1"]
    )
    (r,) = report.results
    assert r.verdict == "not driven", report.format()
    assert "state.momentum" in r.summary and "keeps the perturbed point" in r.summary
    assert any("eval_params(params, state)" in f for f in r.not_driven.fits)


def test_batchnorm_cases_are_skipped_and_named(sam_family_cases):
    bn = [c.name for c in sam_family_cases if c.has_stats and c.optimizer == "msam"]
    assert bn == ["msam-mlp-batchnorm-reestimate"]
    report = crosscheck.check_jax(sam_family_cases, "msam", mjax.msam)
    assert report.passed and report.skipped == bn
    assert bn[0] not in [r.case for r in report.results]
    assert f"Skipped {bn[0]}: the JAX runner has no batch-norm model" in report.tally()
    with pytest.raises(ValueError, match="JAX runner has no batch-norm model"):
        crosscheck.check_jax(sam_family_cases, "msam", mjax.msam, names=bn)
