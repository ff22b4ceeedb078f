"""The contract every optimizer shares (docs/optimizers.md#public-api)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim

from .problems import (
    OPTIMIZER_IDS,
    assert_tree_equal,
    host_copy,
    mlp_problem,
    optimizers,
    quadratic_problem,
    split_quadratic_problem,
)

TRACE_NAMES = {
    "SGD": {"w", "grad", "momentum", "direction", "w_next"},
    "SGD-nesterov": {"w", "grad", "momentum", "direction", "w_next"},
    "SGD-plain": {"w", "grad", "direction", "w_next"},
    "NAG": {"w", "lookahead", "grad", "momentum", "w_next"},
    "SAM": {
        "w",
        "grad_at_w",
        "ascent",
        "w_perturbed",
        "grad_at_perturbed",
        "momentum",
        "w_next",
    },
    "MSAM": {"w", "w_perturbed", "grad", "momentum", "w_next"},
    "MSAM-stored": {"w", "w_perturbed", "grad", "momentum", "w_next", "w_next_perturbed"},
    "AdamW": {"w", "grad", "w_decayed", "m", "s", "w_next"},
    "AdamWMSAM": {"w", "w_perturbed", "grad", "m", "s", "w_adam", "w_next"},
}
# params-sized buffers each optimizer keeps (SAM's ascent vector is transient)
BUFFERS = {
    "SGD": 1,
    "SGD-nesterov": 1,
    "SGD-plain": 0,
    "NAG": 1,
    "SAM": 1,
    "MSAM": 1,
    "MSAM-stored": 1,
    "AdamW": 2,
    "AdamWMSAM": 2,
}


@pytest.fixture(params=OPTIMIZER_IDS)
def name(request):
    return request.param


def _steps(opt, params, state, grad_fn, n):
    for _ in range(n):
        params, state, _ = opt.step(params, state, grad_fn)
    return params, state


def test_step_is_pure(backend, name):
    opt = optimizers()[name]
    params, grad_fn = mlp_problem()
    params, state = _steps(opt, params, opt.init(params), grad_fn, 2)  # non-zero buffers
    params_before, state_before = host_copy(params), host_copy(state)
    state_keys = list(state)
    new_params, new_state, _ = opt.step(params, state, grad_fn, trace=True)
    assert_tree_equal(params, params_before)
    assert_tree_equal(state, state_before)
    assert list(state) == state_keys and state["step"] == 2
    assert new_state["step"] == 3
    assert new_params is not params and new_state is not state


def test_state_holds_exactly_the_documented_buffers(backend, name):
    opt = optimizers()[name]
    params, grad_fn = mlp_problem()
    n_params = sum(int(np.prod(p.shape)) for p in params.values())
    state = opt.init(params)
    for s in (state, _steps(opt, params, state, grad_fn, 2)[1]):
        buffers = [v for v in s.values() if isinstance(v, dict)]
        assert len(buffers) == BUFFERS[name]
        for buf in buffers:
            assert list(buf) == list(params)
            assert all(isinstance(x, backend.array_type) for x in buf.values())
        # nothing else of params size hides in the state (only scalars besides buffers)
        others = [v for v in s.values() if not isinstance(v, dict)]
        assert all(int(np.prod(getattr(v, "shape", ()))) < n_params for v in others)


def test_state_round_trips_through_npz(backend, name, tmp_path):
    opt = optimizers()[name]
    params, grad_fn = mlp_problem()
    params, state = _steps(opt, params, opt.init(params), grad_fn, 3)
    path = tmp_path / "state.npz"
    optim.save_state(path, state)
    loaded = optim.load_state(path)
    assert loaded["step"] == 3 and isinstance(loaded["step"], int)
    assert_tree_equal(loaded, state)
    for v in loaded.values():
        for x in v.values() if isinstance(v, dict) else [v]:
            assert isinstance(x, (int, backend.array_type))
    continued = _steps(opt, params, loaded, grad_fn, 3)
    uninterrupted = _steps(opt, params, state, grad_fn, 3)
    assert_tree_equal(continued[0], uninterrupted[0])
    assert_tree_equal(continued[1], uninterrupted[1])


def test_state_file_is_written_exactly_at_path_and_keeps_odd_param_names(backend, tmp_path):
    params = {"layer/0.W": ms.asarray(np.ones((2, 3))), "b": ms.asarray(np.zeros(3))}
    opt = optim.AdamW(0.1)
    state = opt.init(params)
    path = tmp_path / "opt"  # no .npz suffix: must not be appended
    optim.save_state(path, state)
    assert path.exists()
    assert list(optim.load_state(path)["m"]) == ["layer/0.W", "b"]


def test_trace_records_the_documented_points(backend, name):
    opt = optimizers()[name]
    params, grad_fn = mlp_problem()
    params, state = _steps(opt, params, opt.init(params), grad_fn, 1)
    new_params, _, info = opt.step(params, state, grad_fn, trace=True)
    assert set(info.points) == TRACE_NAMES[name]
    for point in info.points.values():
        assert list(point) == list(params)
    returned = "w_next_perturbed" if name == "MSAM-stored" else "w_next"
    assert_tree_equal(info.points[returned], new_params)
    _, _, info = opt.step(params, state, grad_fn)
    assert info.points is None


def test_info_loss_is_the_first_call_and_stays_on_the_device(backend, name):
    opt = optimizers()[name]
    params, grad_fn = mlp_problem()
    params, state = _steps(opt, params, opt.init(params), grad_fn, 2)
    calls = []

    def recording(p):
        loss, grads = grad_fn(p)
        calls.append(loss)
        return loss, grads

    _, _, info = opt.step(params, state, recording)
    assert info.grad_evals == len(calls) == (2 if name == "SAM" else 1)
    assert info.loss is calls[0]  # kept as returned: a device scalar is not synced to the host
    if backend.name != "numpy":
        assert isinstance(info.loss, backend.array_type)


def test_zero_gradient_and_zero_momentum_give_no_nan(backend, name):
    opt = optimizers()[name]
    params = {"w": ms.asarray(np.array([1.0, -2.0]))}

    def zero_grad(p):
        return 0.0 * p["w"].sum(), {"w": 0.0 * p["w"]}

    new_params, state, _ = opt.step(params, opt.init(params), zero_grad)
    new_params, state, _ = opt.step(new_params, state, zero_grad)
    w = ms.to_numpy(opt.eval_params(new_params, state)["w"])
    assert np.all(np.isfinite(w))
    # with a zero gradient only the weight decay may move the weights, and only shrink them
    assert np.all(np.abs(w) <= np.array([1.0, 2.0]))


@pytest.mark.parametrize("opt_name", ["SAM", "MSAM", "MSAM-stored", "AdamWMSAM"])
def test_norms_are_global_over_all_parameters(backend, opt_name):
    """Splitting the same vector over two keys must not change the trajectory."""
    diag, w0 = [1.0, 2.0, 3.0, 4.0], [1.0, -1.0, 0.5, 2.0]
    whole, whole_grad = split_quadratic_problem(diag, w0, split=4)
    split, split_grad = split_quadratic_problem(diag, w0, split=1)
    opt = optimizers()[opt_name]
    whole, whole_state = _steps(opt, whole, opt.init(whole), whole_grad, 5)
    split, split_state = _steps(opt, split, opt.init(split), split_grad, 5)
    a, b = ms.to_numpy(split["a"]), ms.to_numpy(split["b"])
    np.testing.assert_allclose(np.concatenate([a, b]), ms.to_numpy(whole["a"]), rtol=1e-13)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "make, hyper",
    [
        (lambda: optim.SGD(lr=-0.1), "lr"),
        (lambda: optim.SGD(lr=math.nan), "lr"),
        (lambda: optim.NAG(lr=math.inf), "lr"),
        (lambda: optim.SGD(0.1, momentum=1.0), "momentum"),
        (lambda: optim.NAG(0.1, momentum=-0.1), "momentum"),
        (lambda: optim.SGD(0.1, weight_decay=-1e-4), "weight_decay"),
        (lambda: optim.SGD(0.1, nesterov=True), "nesterov"),
        (lambda: optim.SAM(0.1, rho=-0.05), "rho"),
        (lambda: optim.SAM(0.1, momentum=1.5), "momentum"),
        (lambda: optim.MSAM(0.1, rho=math.nan), "rho"),
        (lambda: optim.MSAM(0.1, weight_decay=math.inf), "weight_decay"),
        (lambda: optim.MSAM(0.1, store_perturbed="yes"), "store_perturbed"),
        (lambda: optim.AdamW(betas=(1.0, 0.999)), "betas"),
        (lambda: optim.AdamW(betas=(0.9, -0.1)), "betas"),
        (lambda: optim.AdamW(eps=-1e-8), "eps"),
        (lambda: optim.AdamW(lr="fast"), "lr"),
        (lambda: optim.AdamWMSAM(rho=-1.0), "rho"),
        (lambda: optim.AdamWMSAM(weight_decay=-0.1), "weight_decay"),
        (lambda: optim.AdamWMSAM(betas=(0.9,)), "betas"),
        (lambda: optim.SGD(0.1, check_finite=1), "check_finite"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_them(make, hyper):
    with pytest.raises(ValueError, match=hyper):
        make()


def test_value_error_states_the_allowed_range():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        optim.MSAM(0.1, momentum=1.0)
    with pytest.raises(ValueError, match=r"\[0, inf\)"):
        optim.MSAM(0.1, rho=-1.0)


def test_bad_schedule_value_raises_at_the_step_naming_it(backend):
    params, grad_fn = quadratic_problem(np.eye(2), np.zeros(2), [1.0, 1.0])
    opt = optim.MSAM(0.1, rho=lambda t: 0.1 if t == 0 else -0.1)
    params, state, _ = opt.step(params, opt.init(params), grad_fn)
    with pytest.raises(ValueError, match="rho.*step 1"):
        opt.step(params, state, grad_fn)


@pytest.mark.parametrize(
    "bad_grads, key",
    [
        (lambda g: {"W1": g["W1"], "b1": g["b1"], "W2": g["W2"]}, "b2"),  # missing
        (lambda g: {**g, "extra": g["b2"]}, "extra"),  # unexpected
        (lambda g: {**g, "W2": g["W2"].T}, "W2"),  # transposed
        (lambda g: {**g, "b1": g["b1"].reshape(1, -1)}, "b1"),  # wrong shape
    ],
)
def test_step_rejects_gradients_that_do_not_match_the_params(backend, name, bad_grads, key):
    opt = optimizers()[name]
    params, grad_fn = mlp_problem()

    def wrong(p):
        loss, grads = grad_fn(p)
        return loss, bad_grads(grads)

    with pytest.raises(ValueError, match=key):
        opt.step(params, opt.init(params), wrong)


def test_step_rejects_host_gradients_on_a_device_backend():
    with ms.use_backend("fakegpu"):
        params, grad_fn = mlp_problem()
        opt = optim.SGD(0.1)

        def host_grads(p):
            loss, grads = grad_fn(p)
            return loss, ms.to_numpy(grads)

        with pytest.raises(ms.DeviceMismatchError, match="W1"):
            opt.step(params, opt.init(params), host_grads)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("where", ["loss", "grad", "second call"])
def test_non_finite_values_raise_naming_the_step_and_leave_inputs_untouched(backend, name, where):
    opt = optimizers()[name]
    params, grad_fn = mlp_problem()
    params, state = _steps(opt, params, opt.init(params), grad_fn, 2)
    params_before, state_before = host_copy(params), host_copy(state)
    calls = []

    def poisoned(p):
        loss, grads = grad_fn(p)
        calls.append(1)
        if where == "loss":
            loss = loss * math.nan
        elif where == "grad" or len(calls) == 2:
            grads = {**grads, "W2": grads["W2"] * math.inf}
        return loss, grads

    if where == "second call" and name != "SAM":
        opt.step(params, state, poisoned)  # only SAM makes a second call
        return
    with pytest.raises(FloatingPointError, match="step 2") as err:
        opt.step(params, state, poisoned)
    assert ("W2" in str(err.value)) == (where != "loss")
    assert_tree_equal(params, params_before)
    assert_tree_equal(state, state_before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_finite_gradients_whose_squares_overflow_pass_the_finite_check(backend, name, dtype):
    """The finite check sums squares; an overflowing sum is settled entry by entry."""
    huge = float(np.finfo(dtype).max) ** 0.5 * 4  # its square is inf, the value is finite
    params = {"w": ms.asarray(np.zeros(3, dtype=dtype))}
    opt = optimizers()[name]

    def huge_grad(p):
        return 0.0, {"w": ms.get_backend().xp.full(3, huge, dtype=dtype)}

    with np.errstate(over="ignore"):
        new_params, _, _ = opt.step(params, opt.init(params), huge_grad)
    assert new_params["w"].dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, "mixed"])
def test_gradients_in_another_key_order_give_the_same_step(backend, name, dtype):
    params, grad_fn = mlp_problem()
    if dtype == "mixed":
        params = {k: x.astype(np.float32) if k.startswith("W") else x for k, x in params.items()}
    else:
        params = {k: x.astype(dtype) for k, x in params.items()}

    def reversed_grads(p):
        loss, grads = grad_fn(p)
        return loss, dict(reversed(list(grads.items())))

    opt_a, opt_b = optimizers()[name], optimizers()[name]
    new_a, _, _ = opt_a.step(params, opt_a.init(params), grad_fn)
    new_b, _, _ = opt_b.step(params, opt_b.init(params), reversed_grads)
    assert_tree_equal(new_a, new_b)


def test_check_finite_false_lets_non_finite_values_through(backend):
    params, grad_fn = quadratic_problem(np.eye(2), np.zeros(2), [1.0, 1.0])
    opt = optim.MSAM(0.1, check_finite=False)

    def nan_grad(p):
        return math.nan, {"w": p["w"] * math.nan}

    new_params, _, info = opt.step(params, opt.init(params), nan_grad)
    assert np.all(np.isnan(ms.to_numpy(new_params["w"])))
    assert math.isnan(info.loss)


def test_state_that_does_not_match_the_params_is_rejected(backend):
    params, grad_fn = quadratic_problem(np.eye(2), np.zeros(2), [1.0, 1.0])
    opt = optim.SGD(0.1, momentum=0.9)
    state = opt.init({"v": params["w"]})
    with pytest.raises(ValueError, match="momentum"):
        opt.step(params, state, grad_fn)


def test_empty_params_are_rejected():
    with pytest.raises(ValueError, match="params"):
        optim.SGD(0.1).init({})


def test_global_norm_stays_on_the_device(backend):
    tree = {"a": ms.asarray(np.array([3.0])), "b": ms.asarray(np.array([[4.0, 12.0]]))}
    norm = optim.global_norm(tree)
    assert norm.shape == ()
    if backend.name != "numpy":  # NumPy reductions give NumPy scalars
        assert isinstance(norm, backend.array_type)
    assert float(ms.to_numpy(norm)) == pytest.approx(13.0, rel=1e-15)


def test_tree_helpers(backend):
    x = {"a": ms.asarray(np.array([1.0, 2.0])), "b": ms.asarray(np.array(3.0))}
    y = {"b": ms.asarray(np.array(1.0)), "a": ms.asarray(np.array([10.0, 20.0]))}
    out = ms.to_numpy(optim.axpy(2.0, x, y))
    assert list(out) == ["a", "b"]  # the key order of x
    np.testing.assert_array_equal(out["a"], [12.0, 24.0])
    np.testing.assert_array_equal(out["b"], 7.0)
    np.testing.assert_array_equal(ms.to_numpy(optim.scale(-1.0, x))["a"], [-1.0, -2.0])
    np.testing.assert_array_equal(ms.to_numpy(optim.add(x, y))["b"], 4.0)
    zeros = optim.zeros_like(x)
    assert isinstance(zeros["a"], backend.array_type)
    np.testing.assert_array_equal(ms.to_numpy(zeros["a"]), [0.0, 0.0])


def test_public_names():
    for n in ["SGD", "NAG", "SAM", "MSAM", "AdamW", "AdamWMSAM", "StepInfo", "EPS"]:
        assert n in optim.__all__ and hasattr(optim, n)
    assert optim.EPS == 1e-12


def test_float32_params_stay_float32(backend, name):
    """Scalars (lr, rho, norms) must not promote float32 params or buffers to float64."""
    opt = optimizers()[name]
    params = {"w": ms.asarray(np.array([1.0, -2.0, 0.5], np.float32))}

    def grad_fn(p):
        return (p["w"] * p["w"]).sum(), {"w": 2.0 * p["w"]}

    params, state = _steps(opt, params, opt.init(params), grad_fn, 3)
    assert params["w"].dtype == np.float32
    assert opt.eval_params(params, state)["w"].dtype == np.float32
    for value in state.values():
        for x in value.values() if isinstance(value, dict) else [value]:
            assert getattr(x, "dtype", np.float32) == np.float32
