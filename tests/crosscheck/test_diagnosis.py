"""What the report says beyond pass/fail, driven with NumPy trajectories (no torch):
the new mutants by hand, pairs of mutants, "matches up to precision", perturbed
params, and the cases that separate the pitfalls."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import minimsam as ms
from minimsam.crosscheck import mutants
from minimsam.crosscheck.compare import (
    check_case,
    first_divergence,
    required_rtol,
)
from minimsam.crosscheck.reference import run_reference
from minimsam.optim import variants as V
from minimsam.optim.variants import variant

FIRST = variant(V.SGDVariant, first_momentum="one-plus-mu")
OUTSIDE = variant(V.SGDVariant, decay="outside")
MSAM_LAG = variant(V.MSAMVariant, rho_lag=True)
ADAM_LAG = variant(V.AdamWMSAMVariant, rho_lag=True)


def _case(cases, name):
    return next(c for c in cases if c.name == name)


def _steps(opt, w0, steps, grad=lambda w: w.copy()):
    """Run ``opt`` on L = |w|^2 / 2 (gradient w); the points where it took gradients."""
    params, points = {"w": np.array(w0, dtype=float)}, []
    state = opt.init(params)
    for _ in range(steps):

        def grad_fn(p):
            points.append(p["w"].copy())
            return 0.5 * float(p["w"] @ p["w"]), {"w": grad(p["w"])}

        params, state, _ = opt.step(params, state, grad_fn)
    return opt.eval_params(params, state)["w"], points


# --------------------------------------------------------------------------- new mutants


def test_first_momentum_buffer_is_one_plus_mu_times_d():
    with ms.use_backend("numpy"):
        w, _ = _steps(FIRST(0.1, momentum=0.9), [3.0, 4.0], 1)
    np.testing.assert_allclose(w, np.array([3.0, 4.0]) * (1 - 0.1 * 1.9), rtol=1e-15)


def test_decay_outside_momentum_subtracts_lam_w_without_lr():
    w0, lr, lam = np.array([3.0, 4.0]), 0.1, 0.2
    with ms.use_backend("numpy"):
        w, _ = _steps(OUTSIDE(lr, momentum=0.9, weight_decay=lam), w0, 1)
    np.testing.assert_allclose(w, w0 - lr * w0 - lam * w0, rtol=1e-15)


def test_per_tensor_normalisation_normalises_each_tensor():
    g = {"a": np.array([3.0, 4.0]), "b": np.array([0.0, 2.0])}
    with ms.use_backend("numpy"):
        zero = {k: np.zeros(2) for k in g}
        e = V.shifted(zero, g, 1.0, "per-tensor", 0.0)
        glob = V.shifted(zero, g, 1.0, "global", 0.0)
    np.testing.assert_allclose(e["a"], [0.6, 0.8])
    np.testing.assert_allclose(e["b"], [0.0, 1.0])
    np.testing.assert_allclose(glob["b"], np.array([0.0, 2.0]) / np.sqrt(29.0))


def test_rho_lag_perturbs_with_the_previous_rho_and_undoes_exactly():
    """Step 1 of MSAM on |w|^2/2, rho = (0.5, 0.2): the lagging mutant takes its gradient
    at w_1 - 0.5 u_1 (the reference at w_1 - 0.2 u_1); w_2 = w_1 - lr (mu v_1 + d)."""
    w0, lr, mu, rho = np.array([3.0, 4.0]), 0.1, 0.9, [0.5, 0.2]
    v1 = w0
    w1 = w0 - lr * v1
    u1 = v1 / (5.0 + 1e-12)
    with ms.use_backend("numpy"):
        w2, points = _steps(MSAM_LAG(lr, momentum=mu, rho=lambda t: rho[t]), w0, 2)
    np.testing.assert_allclose(points[1], w1 - rho[0] * u1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(w2, w1 - lr * (mu * v1 + points[1]), rtol=0, atol=1e-12)


def test_adamw_msam_rho_lag_undoes_exactly_so_a_constant_rho_is_harmless():
    with ms.use_backend("numpy"):
        lag, _ = _steps(
            ADAM_LAG(0.1, rho=0.3, weight_decay=0.1),
            [1.0, -2.0],
            4,
        )
        ref, _ = _steps(ms.optim.AdamWMSAM(0.1, rho=0.3, weight_decay=0.1), [1.0, -2.0], 4)
    np.testing.assert_allclose(lag, ref, rtol=0, atol=1e-14)


def test_lr_lost_on_restore_diverges_exactly_at_the_restore(cases):
    case = _case(cases, "sam-mlp-lr-schedule-restore")
    got = run_reference(case, restore="lr-lost")
    assert first_divergence(got, case.reference).step == case.restore_before_step
    assert case.lr[case.restore_before_step] != case.lr[0]


# --------------------------------------------------------------------------- pairs


def test_pairs_combine_different_knobs_only():
    by_name = {m.name: m for m in mutants.mutants_for("msam")}
    pair = mutants.combine(by_name["sign-flipped"], by_name["decay-at-w"])
    assert pair.pitfalls == ["perturbation_sign", "weight_decay_placement"]
    assert pair.cls.sign == 1.0 and pair.cls.decay_at == "w"
    assert mutants.combine(by_name["state-lost"], by_name["lr-lost-on-restore"]) is None
    assert mutants.combine(by_name["undo-current-rho"], by_name["sign-flipped"]) is None
    with_restore = mutants.combine(by_name["sign-flipped"], by_name["state-lost"])
    assert with_restore.restore == "lose" and with_restore.cls is by_name["sign-flipped"].cls
    assert len(mutants.pairs("msam")) > 20


def test_two_bugs_at_once_are_named_by_a_pair(cases):
    case = _case(cases, "msam-mlp-wd-rho1")
    by_name = {m.name: m for m in mutants.mutants_for("msam")}
    pair = mutants.combine(by_name["first-momentum"], by_name["decay-at-w"])
    result = check_case(case, run_reference(case, pair.cls))
    assert result.verdict == "FAIL"
    assert {d.pitfall for d in result.diagnoses} == {"first_momentum", "weight_decay_placement"}
    assert {d.mutant for d in result.diagnoses} == {"decay-at-w+first-momentum"}


# --------------------------------------------------------------------------- precision


@pytest.mark.parametrize(
    "name", ["sam-mlp-wd-schedules-restore", "msam-mlp-wd-rho1", "adamw-msam-mlp-wd-rho0.5"]
)
def test_a_float32_norm_matches_up_to_precision_and_names_the_cause(cases, name):
    case = _case(cases, name)
    (f32,) = mutants.mutants_for(case.optimizer, kind="precision")
    got = run_reference(case, f32.cls)
    result = check_case(case, got)
    assert result.verdict == "precision" and not result.passed, result.summary
    assert "float32" in result.precision.cause
    assert result.precision.nearest_mutant_diff > 1e3 * result.max_diff
    assert first_divergence(got, case.reference, rtol=result.precision.rtol) is None
    assert f"--rtol {result.precision.rtol:.0e} accepts it" in result.summary


class _MSAMBufferInFloat32(ms.optim.MSAM):
    def update(self, w, state, grad, t, trace):
        w_next, kept = super().update(w, state, grad, t, trace)
        return w_next, {"momentum": {k: np.float32(v) for k, v in kept["momentum"].items()}}


def test_a_buffer_kept_in_float32_is_placed_in_v_and_the_cause_is_not_the_norm(cases):
    """The step in float64, its buffer stored in float32 (the params are not): the rounding
    is where the buffer is kept, v_{t+1}, and the verdict does not blame the norm."""
    case = _case(cases, "msam-mlp-rho0.3")
    result = check_case(case, run_reference(case, _MSAMBufferInFloat32, record_buffers=True))
    assert result.verdict == "precision" and result.equation == "v_{t+1}", result.location
    assert "kept in float32" in result.location and "not the norm" in result.precision.cause


def test_rounding_to_float32_everywhere_is_precision_with_another_cause(cases):
    case = _case(cases, "msam-mlp-rho0.3")
    got = copy.deepcopy(case.reference)
    for tree in (got.params, got.eval_points):
        for k in tree:
            tree[k] = tree[k].astype(np.float32).astype(np.float64)
    got.eval_losses = got.eval_losses.astype(np.float32).astype(np.float64)
    result = check_case(case, got)
    assert result.verdict == "precision"
    assert "float32" not in result.precision.cause.split("(")[0]  # not the norm
    assert "rounding elsewhere" in result.precision.cause


def test_a_small_real_bug_is_not_called_precision(cases):
    case = _case(cases, "msam-mlp-wd-rho1")
    got = copy.deepcopy(case.reference)
    for k in got.params:
        got.params[k][6:] *= 1 + 1e-3
    assert required_rtol(got, case.reference) > 1e-4
    result = check_case(case, got)
    assert result.verdict == "FAIL" and result.precision is None
    assert "no known pitfall matches" in result.summary


# --------------------------------------------------------------------------- perturbed params


def test_params_that_are_the_perturbed_point_are_recognised(cases):
    case = _case(cases, "adamw-msam-mlp-wd-rho0.5")
    got = copy.deepcopy(case.reference)
    rng = np.random.default_rng(0)
    buffer = {k: rng.normal(size=v.shape) for k, v in got.params.items()}
    c = case.rho[1] / np.sqrt(sum(np.sum(b[0] ** 2) for b in buffer.values()))  # step 0
    for k in got.params:
        got.params[k] = got.params[k] - c * buffer[k]
    got.buffers = {"exp_avg": buffer, "exp_avg_sq": {k: b**2 for k, b in buffer.items()}}
    result = check_case(case, got)
    assert result.verdict == "not driven" and result.diagnoses == []
    assert f"state['exp_avg'] with c = {c:.3g}" in result.summary
    assert "keeps the perturbed point" in result.summary
    assert any("--adapter move-back-up" in f for f in result.not_driven.fits)
    got.buffers = {"exp_avg_sq": got.buffers["exp_avg_sq"]}  # no buffer explains it
    assert check_case(case, got).verdict == "FAIL"
    got.buffers = {"exp_avg": {k: 2 * b for k, b in buffer.items()}}  # the same direction
    for k in got.params:  # but a shift 3 rho long: not a perturbation
        got.params[k] = case.reference.params[k] - 3 * c * buffer[k]
    assert check_case(case, got).verdict == "FAIL"


# --------------------------------------------------------------------------- separating cases


def test_the_catalogue_has_the_separating_cases(cases):
    rho_no_restore = [
        c
        for c in cases
        if c.optimizer in ("msam", "adamw-msam") and c.restore_before_step is None
        and c.rho is not None and len(set(c.rho)) > 1 and c.model["kind"] == "mlp"
    ]  # fmt: skip
    assert {c.optimizer for c in rho_no_restore} == {"msam", "adamw-msam"}
    for optimizer in ("sam", "msam"):
        lr_restore = [
            c
            for c in cases
            if c.optimizer == optimizer and c.restore_before_step is not None
            and len(set(c.lr)) > 1 and len(set(c.rho)) == 1
        ]  # fmt: skip
        assert lr_restore and all("lr_lost_on_restore" in c.pitfalls for c in lr_restore)
    zero = _case(cases, "sam-surface-zero-grad")
    assert zero.restore_before_step is None and zero.hyperparameters["weight_decay"] == 0
    assert "missing_epsilon" in zero.pitfalls


def test_drift_lag_and_lost_state_are_told_apart_without_a_restore(cases):
    case = _case(cases, "msam-mlp-rho-schedule")
    for cls, pitfall in ((V.MSAMUndoWithCurrentRho, "rho_drift"),
                         (variant(V.MSAMVariant, rho_lag=True), "rho_lag")):  # fmt: skip
        result = check_case(case, run_reference(case, cls))
        assert [d.pitfall for d in result.diagnoses] == [pitfall]
