"""The catalogue and its reference trajectories: shapes, the restore, the pitfalls each
case exposes, the zero-gradient step, and the mutants against hand-computed steps."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import minimsam as ms
from minimsam import crosscheck
from minimsam.crosscheck import mutants, problems
from minimsam.crosscheck.catalogue import ZERO_GRAD_STEP
from minimsam.crosscheck.reference import make_optimizer, run_reference
from minimsam.optim import variants as V
from minimsam.optim.variants import variant


def test_every_optimizer_has_cases_and_names_are_unique(cases):
    assert {c.optimizer for c in cases} == set(crosscheck.OPTIMIZERS)
    assert len({c.name for c in cases}) == len(cases)


def test_reference_trajectories_have_the_documented_shapes(cases):
    for case in cases:
        ref = case.reference
        evals = 2 if case.optimizer == "sam" else 1
        assert ref.steps == case.steps
        assert list(ref.grad_evals) == [evals] * case.steps
        assert ref.eval_losses.shape == (case.steps, evals)
        np.testing.assert_array_equal(ref.loss, ref.eval_losses[:, 0])
        for k, w in case.init.items():
            assert ref.params[k].shape == (case.steps, *w.shape)
            assert ref.eval_points[k].shape == (case.steps, evals, *w.shape)
            assert np.all(np.isfinite(ref.params[k]))


def test_reference_is_a_plain_run_of_the_optimizer(cases):
    """No restore, schedules as callables: the same trajectory (saving and loading the
    state in the middle is exact)."""
    for case in cases:
        if case.has_stats:
            continue  # test_batchnorm_reference_is_a_plain_run_with_nn_batch_grad_fn
        opt = make_optimizer(case)
        params = {k: v.copy() for k, v in case.init.items()}
        state = opt.init(params)
        for t in range(case.steps):
            grad_fn = problems.grad_fn(case.model, case.batches, t)
            params, state, info = opt.step(params, state, grad_fn)
            assert info.loss == case.reference.loss[t]
        for k, w in opt.eval_params(params, state).items():
            np.testing.assert_array_equal(w, case.reference.params[k][-1])


def test_batchnorm_reference_is_a_plain_run_with_nn_batch_grad_fn(cases):
    """The batch-norm cases: minimsam's own BN training loop (``nn.batch_grad_fn``, which
    keeps the first pass's statistics, then ``nn.reestimate_stats``) gives the reference
    params, running statistics and evaluation logits."""
    bn_cases = [c for c in cases if c.has_stats]
    assert {c.optimizer for c in bn_cases} == {"sgd", "sam", "msam"}
    for case in bn_cases:
        mlp = ms.nn.MLP(case.model["sizes"], activation=case.model["activation"], batchnorm=True)
        opt = make_optimizer(case)
        params = {k: v.copy() for k, v in case.init.items()}
        stats, state = dict(case.init_stats), opt.init(params)
        x, y = case.batches["x"], case.batches["y"]
        for t in range(case.steps):
            grad_fn = ms.nn.batch_grad_fn(mlp, stats, x[t], y[t])
            params, state, info = opt.step(params, state, grad_fn)
            stats = grad_fn.new_stats
            assert info.loss == case.reference.loss[t]
            for k, value in stats.items():
                np.testing.assert_array_equal(value, case.reference.stats[k][t])
        w = opt.eval_params(params, state)
        if case.reestimate_batches:
            batches = list(case.batches["reestimate_x"])
            stats = ms.nn.reestimate_stats(mlp, w, stats, batches, case.reestimate_batches)
        logits = mlp.eval_with(stats)(w, case.batches["eval_x"])
        np.testing.assert_array_equal(logits, case.reference.eval_logits)
        assert case.reference.eval_logits.shape == (len(case.batches["eval_x"]), 3)


def test_the_zero_gradient_steps_have_an_exactly_zero_gradient(cases):
    """Every surface case has one at ZERO_GRAD_STEP; those of the optimizers that
    normalise (and AdamW) on step 0 too, so that the first normalised vector is zero."""
    surface = [c for c in cases if c.model["kind"] == "surface"]
    assert surface
    for case in surface:
        zero = np.flatnonzero(case.batches["scale"] == 0.0)
        assert ZERO_GRAD_STEP in zero and set(zero) <= {0, ZERO_GRAD_STEP}
        grads = case.reference.eval_grads["w"]
        assert np.all(grads[zero] == 0.0)
        assert np.all(np.delete(grads, zero, axis=0) != 0.0)
    first = {c.optimizer for c in surface if c.batches["scale"][0] == 0.0}
    assert first == {"sam", "msam", "adamw", "adamw-msam"}


def test_each_hyperparameter_at_zero_meets_the_others_non_zero(cases):
    """Momentum 0 with weight decay, weight decay 0 with momentum (and with Nesterov):
    an implementation's shortcut for a zero hyperparameter cannot drop another term."""
    for optimizer in ("sgd", "nag", "sam", "msam"):
        hps = [c.hyperparameters for c in cases if c.optimizer == optimizer]
        assert any(h["momentum"] == 0 and h["weight_decay"] > 0 for h in hps), optimizer
        assert any(h["momentum"] > 0 and h["weight_decay"] == 0 for h in hps), optimizer
    sgd = [c.hyperparameters for c in cases if c.optimizer == "sgd"]
    assert any(h["nesterov"] and h["weight_decay"] == 0 for h in sgd)
    assert any(h["nesterov"] and h["weight_decay"] > 0 for h in sgd)


def test_each_case_lists_what_shows_each_pitfall(cases):
    """The pitfalls a case lists are computed from the mutants; they follow the setting as
    FORMAT.md's "what shows it" column says: a restore shows a lost state (if the optimizer
    keeps one), weight decay its placement, several tensors a per-tensor norm, a rho
    schedule the drift."""
    for case in cases:
        listed, hp = set(case.pitfalls), case.hyperparameters
        has_state = hp.get("momentum", 1) > 0 or case.optimizer in ("msam", "adamw-msam")
        restored = case.restore_before_step is not None
        assert ("state_not_saved" in listed) == (restored and has_state), case.name
        if hp.get("weight_decay", 0) == 0:
            assert not listed & {"weight_decay_placement", "weight_decay_outside_momentum"}
        several_tensors = case.model["kind"] != "surface" and case.rho is not None
        assert ("per_tensor_norm" in listed) == several_tensors, case.name
        if case.rho is None or len(set(case.rho)) == 1:
            assert not listed & {"rho_drift", "rho_lag", "rho_schedule_ignored"}, case.name
        if case.optimizer in ("sam", "msam", "adamw-msam"):
            assert "perturbation_sign" in listed, case.name


def test_every_pitfall_of_every_optimizer_is_exposed_by_some_case(cases):
    for optimizer, known in crosscheck.MUTANTS.items():
        listed = {p for c in cases if c.optimizer == optimizer for p in c.pitfalls}
        assert listed == {m.pitfall for m in known if m.kind == "bug"}, optimizer


def test_the_rho_schedule_changes_every_step_and_restores_happen_mid_run(cases):
    drifting = [c for c in cases if "rho_drift" in c.pitfalls]
    assert drifting
    for case in drifting:
        assert all(a != b for a, b in zip(case.rho, case.rho[1:]))
    for case in cases:
        if case.restore_before_step is not None:
            assert 0 < case.restore_before_step < case.steps


# --------------------------------------------------------------------------- mutants by hand


def _quadratic_grad_fn(p):
    """L = sum(w^2) / 2: the gradient is w."""
    return 0.5 * float(np.sum(p["w"] ** 2)), {"w": p["w"].copy()}


def _run(opt, steps, w0=(1.0, -2.0)):
    params = {"w": np.array(w0)}
    state = opt.init(params)
    points = []
    for _ in range(steps):

        def grad_fn(p):
            points.append(p["w"].copy())
            return _quadratic_grad_fn(p)

        params, state, _ = opt.step(params, state, grad_fn)
    return opt.eval_params(params, state)["w"], points


def test_undo_with_current_rho_drifts_by_the_rho_change():
    """Two steps on L = |w|^2 / 2, lr 0.1, mu 0.9, rho_0 = 0.5, rho_1 = 0.2 (worked by hand).

    Step 0: v_1 = w_0, w_1 = 0.9 w_0; the mutant stores wp_1 = w_1 - rho_0 u_1,
    u_1 = w_0 / |w_0|. Step 1 takes the gradient there (the reference at
    w_1 - rho_1 u_1) and undoes with rho_1, so its w is off by (rho_1 - rho_0) u_1.
    """
    w0 = np.array([3.0, 4.0])  # |w0| = 5
    rho = [0.5, 0.2]
    with ms.use_backend("numpy"):
        drifting = V.MSAMUndoWithCurrentRho(0.1, momentum=0.9, rho=lambda t: rho[t])
        w_mut, points = _run(drifting, 2, w0)
    u1 = w0 / 5.0
    w1 = 0.9 * w0
    np.testing.assert_allclose(points[1], w1 - rho[0] * u1, rtol=0, atol=1e-12)
    w1_mut = w1 + (rho[1] - rho[0]) * u1  # the drift
    v2 = 0.9 * w0 + (w1 - rho[0] * u1)
    np.testing.assert_allclose(w_mut, w1_mut - 0.1 * v2, rtol=0, atol=1e-12)


def test_undo_with_current_rho_is_harmless_with_a_constant_rho():
    with ms.use_backend("numpy"):
        w_mut, _ = _run(V.MSAMUndoWithCurrentRho(0.1, rho=0.3), 5)
        w_ref, _ = _run(ms.optim.MSAM(0.1, rho=0.3), 5)
    np.testing.assert_allclose(w_mut, w_ref, rtol=0, atol=1e-12)


def test_mutant_msam_steps_by_hand():
    """Step 1 of MSAM (lr 0.1, mu 0.9, rho 0.5, lam 0.1) from v_1 = g + lam w_0 at w_0 = (3, 4)."""
    w0, lr, mu, rho, lam = np.array([3.0, 4.0]), 0.1, 0.9, 0.5, 0.1
    v1 = w0 + lam * w0
    w1 = w0 - lr * v1
    u1 = v1 / np.linalg.norm(v1)
    expected = {
        # point of step 1, then d at that point
        variant(V.MSAMVariant, decay_at="w"): (w1 - rho * u1, lambda wp: wp + lam * w1),
        variant(V.MSAMVariant, sign=1.0): (w1 + rho * u1, lambda wp: wp + lam * wp),
    }
    with ms.use_backend("numpy"):
        for cls, (point, d) in expected.items():
            w2, points = _run(cls(lr, momentum=mu, rho=rho, weight_decay=lam), 2, w0)
            np.testing.assert_allclose(points[1], point, rtol=0, atol=1e-12)
            np.testing.assert_allclose(w2, w1 - lr * (mu * v1 + d(point)), rtol=0, atol=1e-12)


def test_mutants_without_eps_give_nan_exactly_on_a_zero_vector():
    with ms.use_backend("numpy"), np.errstate(all="ignore"):
        opt = variant(V.MSAMVariant, norm_eps=0.0)(0.1, rho=0.3, check_finite=False)
        _, points = _run(opt, 1)
        assert np.all(np.isnan(points[0]))  # v_0 = 0
        sam = variant(V.SAMVariant, norm_eps=0.0)(0.1, rho=0.05, check_finite=False)
        w, _ = _run(sam, 1, w0=(0.0, 0.0))  # gradient w = 0
        assert np.all(np.isnan(w))
        w, _ = _run(sam, 1)
        w_ref, _ = _run(ms.optim.SAM(0.1, rho=0.05), 1)
        np.testing.assert_allclose(w, w_ref, rtol=1e-10)


def test_adam_decay_order_mutants_differ_only_with_weight_decay():
    with ms.use_backend("numpy"):
        decay_last = variant(V.AdamWVariant, decay_last=True)
        decay_first = variant(V.AdamWMSAMVariant, decay_first=True)
        for mutant, reference in ((decay_last, ms.optim.AdamW),
                                  (decay_first, ms.optim.AdamWMSAM)):  # fmt: skip
            same = [_run(cls(lr=0.1, weight_decay=0.0), 3)[0] for cls in (mutant, reference)]
            np.testing.assert_allclose(same[0], same[1], rtol=0, atol=1e-12)
            differ = [_run(cls(lr=0.1, weight_decay=0.5), 3)[0] for cls in (mutant, reference)]
            assert np.max(np.abs(differ[0] - differ[1])) > 1e-4


def test_run_reference_rejects_an_unknown_restore_mode(cases):
    with pytest.raises(ValueError, match="restore must be one of"):
        run_reference(cases[0], restore="forget")


MUTANT_CLASSES = sorted(
    {m.cls for known in mutants.MUTANTS.values() for m in known if m.cls is not None},
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("cls", MUTANT_CLASSES, ids=lambda cls: cls.__name__)
def test_mutants_run_on_every_backend_like_on_numpy(backend, cls):
    """The mutants keep their state on the device (no host arrays mixed in)."""
    kwargs = {"lr": 0.1, "weight_decay": 0.1}
    if "rho" in inspect.signature(cls).parameters:
        kwargs["rho"] = lambda t: 0.3 + 0.1 * t

    def grad_fn(p):  # L = sum(w^2) / 2 + sum(w^3) / 3: gradient w + w^2
        w = p["w"]
        return ms.get_backend().xp.sum(w * w) / 2, {"w": w + w * w}

    def run():
        opt = cls(**kwargs, check_finite=False)
        params = {"w": ms.asarray(np.array([0.5, -0.3, 0.2]))}
        state = opt.init(params)
        with np.errstate(all="ignore"):
            for _ in range(3):
                params, state, _ = opt.step(params, state, grad_fn)
        return ms.to_numpy(opt.eval_params(params, state)["w"])

    got = run()
    with ms.use_backend("numpy"):
        want = run()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, equal_nan=True)
