"""One kernel per equation on a device (minimsam.optim.flat): the step on flat buffers
(fakegpu, cupy) equals the per-tensor step bit for bit, and its kernel launches do not grow
with the number of tensors. On numpy the step is the per-tensor form itself."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import nn, optim
from minimsam.optim.adamw import adam_moments, adam_step
from minimsam.optim.base import Tracer, tensorwise
from minimsam.testing.fake_gpu import count_kernels

MAKERS = {
    "SGD": lambda: optim.SGD(0.05, momentum=0.9, weight_decay=0.01, nesterov=True),
    "SGD-plain": lambda: optim.SGD(0.05),
    "NAG": lambda: optim.NAG(0.05, momentum=0.9, weight_decay=0.01),
    "SAM": lambda: optim.SAM(0.05, momentum=0.9, rho=0.1, weight_decay=0.01),
    "MSAM": lambda: optim.MSAM(0.05, momentum=0.9, rho=0.3, weight_decay=0.01),
    "MSAM-stored": lambda: optim.MSAM(0.05, rho=0.3, weight_decay=0.01, store_perturbed=True),
    "AdamW": lambda: optim.AdamW(0.01),
    "AdamWMSAM": lambda: optim.AdamWMSAM(0.01, rho=0.5),
}
DTYPES = {
    "float32": [np.float32] * 4,
    "float64": [np.float64] * 4,
    "mixed": [np.float32, np.float64, np.float32, np.float64],
}


def problem(dtypes, n_tensors=4, seed=0):
    """Params of ``n_tensors`` tensors and a gradient function coupling them nonlinearly."""
    rng = np.random.default_rng(seed)
    shapes = [(5, 3), (3,), (), (2, 2, 2)] * (n_tensors // 4 + 1)
    params = {
        f"p{i}": ms.asarray(rng.standard_normal(shapes[i]).astype(dtypes[i % len(dtypes)]))
        for i in range(n_tensors)
    }

    def grad_fn(point):
        xp = ms.get_backend().xp
        loss = sum(xp.sum(xp.sin(w)) for w in point.values())
        return loss, {k: xp.cos(w) + 0.1 * w**3 for k, w in point.items()}

    return params, grad_fn


def per_tensor_step(opt, params, state, grad_fn, t):
    """The same ``update`` run on plain dicts: the helpers then work tensor by tensor."""

    def grad(point):
        point = {k: x.astype(params[k].dtype, copy=False) for k, x in point.items()}
        _, grads = grad_fn(point)
        return {k: g.astype(params[k].dtype, copy=False) for k, g in grads.items()}

    tracer = Tracer(True)
    new_w, buffers = opt.update(dict(params), state, grad, t, tracer)
    cast = {k: x.astype(params[k].dtype, copy=False) for k, x in new_w.items()}
    return cast, buffers, tracer.points


def assert_bitwise_equal(a, b, what):
    """Bit for bit; on cupy the global norm of a flat buffer is one reduction, which rounds
    in another order than the per-tensor partial sums, so there up to a few ulps."""
    assert a.keys() == b.keys(), what
    exact = ms.get_backend().name != "cupy"
    for k in a:
        x, y = ms.to_numpy(a[k]), ms.to_numpy(b[k])
        assert x.dtype == y.dtype and x.shape == y.shape, (what, k)
        if exact:
            np.testing.assert_array_equal(x, y, err_msg=f"{what}[{k}]")
        else:
            rtol = 1e-5 if x.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol, err_msg=f"{what}[{k}]")


@pytest.mark.parametrize("dtypes", list(DTYPES))
@pytest.mark.parametrize("name", list(MAKERS))
def test_the_flat_step_equals_the_per_tensor_step_bit_for_bit(backend, name, dtypes):
    params, grad_fn = problem(DTYPES[dtypes])
    opt = MAKERS[name]()
    state = opt.init(params)
    for t in range(4):
        want_w, want_buffers, want_points = per_tensor_step(opt, params, state, grad_fn, t)
        params, state, info = opt.step(params, state, grad_fn, trace=True)
        assert_bitwise_equal(params, want_w, f"step {t} params")
        for key, buffer in want_buffers.items():
            if isinstance(buffer, dict):
                cast = {k: x.astype(params[k].dtype, copy=False) for k, x in buffer.items()}
                assert_bitwise_equal(state[key], cast, f"step {t} state[{key}]")
            else:
                got, want = float(ms.to_numpy(state[key])), float(ms.to_numpy(buffer))
                assert got == want or ms.get_backend().name == "cupy" and np.isclose(got, want)
        assert info.points.keys() == want_points.keys()
        for point, tree in want_points.items():
            assert_bitwise_equal(info.points[point], tree, f"step {t} trace {point}")


def update_launches(opt, n_tensors):
    """Launches of one steady-state step outside grad_fn (the update), on fakegpu."""
    with ms.use_backend("fakegpu"):
        params, grad_fn = problem([np.float32], n_tensors)
        fixed = grad_fn(params)
        state = opt.init(params)
        for _ in range(2):
            params, state, _ = opt.step(params, state, lambda p: fixed)
        with count_kernels() as counter:
            opt.step(params, state, lambda p: fixed)
    return counter.launches, counter.syncs


@pytest.mark.parametrize("name", list(MAKERS))
def test_update_launches_do_not_grow_with_the_number_of_tensors(name):
    few, _ = update_launches(MAKERS[name](), 4)
    many, _ = update_launches(MAKERS[name](), 40)
    assert few == many


@pytest.mark.parametrize("name", list(MAKERS))
def test_one_host_sync_per_step_and_none_without_the_finite_check(name):
    assert update_launches(MAKERS[name](), 4)[1] == 1
    opt = MAKERS[name]()
    opt.check_finite = False
    assert update_launches(opt, 4)[1] == 0


def model_step_launches(opt, model, x_shape):
    """Launches of one steady-state training step (forward, backward, update) on fakegpu."""
    with ms.use_backend("fakegpu"):
        params = model.init(seed=0)
        rng = np.random.default_rng(0)
        x = ms.asarray(rng.standard_normal(x_shape).astype(np.float32))
        y = ms.asarray(rng.integers(0, 10, size=x_shape[0]))
        grad_fn = ms.value_and_grad(lambda p: nn.cross_entropy(model(p, x), y))
        state = opt.init(params)
        for _ in range(2):
            params, state, _ = opt.step(params, state, grad_fn)
        with count_kernels() as counter:
            opt.step(params, state, grad_fn)
    return counter.launches


@pytest.mark.parametrize(
    "model, x_shape",
    [(nn.MLP([784, 256, 256, 10]), (4, 784)), (nn.SmallCNN(), (2, 1, 28, 28))],
    ids=["MLP", "SmallCNN"],
)
def test_msam_launches_at_most_three_kernels_more_than_sgd(model, x_shape):
    sgd = model_step_launches(optim.SGD(0.01, momentum=0.9), model, x_shape)
    msam = model_step_launches(optim.MSAM(0.01, momentum=0.9, rho=0.3), model, x_shape)
    nag = model_step_launches(optim.NAG(0.01, momentum=0.9), model, x_shape)
    assert msam - sgd <= 3  # ||v|| (a reduction), rho / (||v|| + EPS), w - c v
    assert nag - sgd <= 1  # w - lr mu v


def test_a_step_fed_its_own_outputs_copies_only_the_gradient(backend, monkeypatch):
    """On a device, the params and buffers of a step fed its own outputs are the last
    step's buffers (the returned arrays are views of them): only the gradient is copied
    in (one launch), and new dicts are copied in. On the host nothing is copied in."""
    from minimsam.optim import base, flat

    gathered, real_gather = [], flat.gather

    def counting_gather(tree, layout):
        gathered.append(tuple(tree))
        return real_gather(tree, layout)

    monkeypatch.setattr(base, "gather", counting_gather)
    monkeypatch.setattr(flat, "gather", counting_gather)
    device = backend.name != "numpy"
    opt = optim.MSAM(0.05, rho=0.3)
    params, grad_fn = problem([np.float32], 8)
    state = opt.init(params)
    params, state, _ = opt.step(params, state, grad_fn)
    assert len(gathered) == (3 if device else 0)  # params, momentum (from init), gradient
    gathered.clear()
    params, state, _ = opt.step(params, state, grad_fn)
    assert len(gathered) == (1 if device else 0)  # the gradient only
    gathered.clear()
    opt.step(dict(params), {"step": state["step"], "momentum": dict(state["momentum"])}, grad_fn)
    assert len(gathered) == (3 if device else 0)  # new dicts: copied in


def test_a_device_step_returns_views_of_one_buffer():
    from minimsam.optim import flat

    with ms.use_backend("fakegpu"):
        opt = optim.SGD(0.05, momentum=0.9)
        params, grad_fn = problem([np.float32], 8)
        params, state, _ = opt.step(params, opt.init(params), grad_fn)
        found = flat.last_outputs(opt).find(params)
        assert found is not None and len(found.buffers) == 1
        found.buffers[0][...] = 3.0  # the buffer, changed in place: every param sees it
        assert all(np.all(ms.to_numpy(x) == 3.0) for x in params.values())


def test_zero_d_params_stay_arrays(backend):
    """Array arithmetic turns 0-d arrays into scalars; a step still returns 0-d arrays,
    so its output is valid input also when copied into a new dict."""
    params, grad_fn = problem([np.float64], 4)
    opt = optim.MSAM(0.05, rho=0.3)
    params, state, _ = opt.step(params, opt.init(params), grad_fn)
    assert isinstance(params["p2"], backend.array_type) and params["p2"].shape == ()
    assert isinstance(state["momentum"]["p2"], backend.array_type)
    opt.step(dict(params), {"step": 1, "momentum": dict(state["momentum"])}, grad_fn)


@pytest.mark.parametrize("dtypes", list(DTYPES))
def test_tensorwise_gives_the_numbers_of_one_call_on_the_whole_dicts(backend, dtypes):
    """AdamW's block of equations run one tensor at a time equals one call on the dicts."""
    params, grad_fn = problem(DTYPES[dtypes], n_tensors=8)
    _, grads = grad_fn(params)
    opt = optim.AdamW(0.01)

    def block(w, m, s, g):
        m, s = adam_moments(m, s, g, opt.betas)
        return adam_step(w, m, s, 0.01, opt.betas, opt.eps, k=3), m, s

    state = opt.init(params)
    m0 = {k: 0.5 * g for k, g in grads.items()}
    whole = block(params, m0, state["s"], grads)
    one_at_a_time = tensorwise(block, params, m0, state["s"], grads)
    for name, a, b in zip(("w", "m", "s"), whole, one_at_a_time):
        assert list(a) == list(b) == list(params), name
        assert_bitwise_equal(a, b, name)
