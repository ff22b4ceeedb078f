"""value_and_grad / grad / hvp on trees of parameters, against HIPS autograd."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import minimsam as ms
from minimsam import nn

from . import reference as ref


def test_value_and_grad_on_a_dict_list_and_array(backend, rng):
    a, b, c = (rng.standard_normal(s) for s in [(3,), (2, 2), ()])
    params = {"a": ms.asarray(a), "pair": [ms.asarray(b), ms.asarray(c)]}

    def f(p):
        return (p["a"] ** 2).sum() + (p["pair"][0] * p["pair"][1]).sum()

    value, grads = ms.value_and_grad(f)(params)
    assert float(value) == pytest.approx(np.sum(a**2) + np.sum(b * c))
    assert set(grads) == {"a", "pair"} and isinstance(grads["pair"], list)
    np.testing.assert_allclose(ms.to_numpy(grads["a"]), 2 * a)
    np.testing.assert_allclose(ms.to_numpy(grads["pair"][0]), np.full((2, 2), c))
    np.testing.assert_allclose(ms.to_numpy(grads["pair"][1]), b.sum())
    assert isinstance(grads["a"], ms.get_backend().array_type)


def test_unused_parameter_gets_zero_gradient(backend):
    params = {"used": ms.asarray(np.ones(2)), "unused": ms.asarray(np.ones(3))}
    grads = ms.grad(lambda p: (p["used"] * 3.0).sum())(params)
    np.testing.assert_array_equal(ms.to_numpy(grads["unused"]), np.zeros(3))
    grads = ms.grad(lambda p: ms.asarray(np.array(1.0)))(params)
    np.testing.assert_array_equal(ms.to_numpy(grads["used"]), np.zeros(2))


def test_non_scalar_output_is_an_error(backend):
    with pytest.raises(ValueError, match=r"scalar.*shape \(3,\)"):
        ms.grad(lambda x: x * 2.0)(ms.asarray(np.ones(3)))


def test_has_aux_returns_detached_extras(backend):
    def f(w):
        y = w * 2.0
        return y.sum(), {"y": y}

    (value, aux), g = ms.value_and_grad(f, has_aux=True)(ms.asarray(np.arange(3.0)))
    assert float(value) == 6.0
    assert isinstance(aux["y"], ms.get_backend().array_type)
    np.testing.assert_array_equal(ms.to_numpy(g), [2.0, 2.0, 2.0])


def test_repeated_use_of_a_parameter_accumulates(backend):
    g = ms.grad(lambda x: (x * x * x).sum())(ms.asarray(np.array([2.0])))
    np.testing.assert_allclose(ms.to_numpy(g), [12.0])


def test_no_grad_records_nothing(backend):
    x = ms.Tensor(ms.asarray(np.ones(2)), requires_grad=True)
    with ms.no_grad():
        y = x * 3.0
    assert y.creator is None and not y.requires_grad


def test_tensor_backward_fills_leaf_grads(backend):
    x = ms.Tensor(ms.asarray(np.array([1.0, 2.0])), requires_grad=True)
    (x.exp().sum()).backward()
    np.testing.assert_allclose(ms.to_numpy(x.grad), np.exp([1.0, 2.0]))


def _mlp_problem(rng, sizes=(5, 7, 3)):
    model = nn.MLP(list(sizes), activation="tanh")
    params = model.init(seed=1, dtype="float64")
    x = rng.standard_normal((6, sizes[0]))
    y = rng.integers(0, sizes[-1], size=6)
    return model, params, x, y


def test_mlp_gradient_matches_autograd(backend, rng):
    model, params, x, y = _mlp_problem(rng)

    def ours(p):
        return nn.cross_entropy(model(p, ms.asarray(x)), ms.asarray(y), label_smoothing=0.1)

    def theirs(p):
        return ref.cross_entropy(ref.mlp(p, x, 2), y, 3, eps=0.1)

    value, grads = ms.value_and_grad(ours)(params)
    host = ms.to_numpy(params)
    assert float(value) == pytest.approx(theirs(host), rel=1e-12)
    expected = autograd.grad(theirs)(host)
    for k in host:
        np.testing.assert_allclose(ms.to_numpy(grads[k]), expected[k], rtol=1e-10, atol=1e-12)


def test_cnn_gradient_matches_autograd(backend, rng):
    model = nn.SmallCNN(in_channels=1, num_classes=3, image_size=8, channels=(2, 3), hidden=4)
    params = model.init(seed=0, dtype="float64")
    x = rng.standard_normal((2, 1, 8, 8))
    y = np.array([0, 2])

    def theirs(p):
        h = ref.max_pool2d(anp.maximum(ref.conv2d(x, p["0.weight"], p["0.bias"], padding=1), 0))
        h = ref.max_pool2d(anp.maximum(ref.conv2d(h, p["3.weight"], p["3.bias"], padding=1), 0))
        h = anp.maximum(anp.dot(h.reshape(2, -1), p["7.weight"]) + p["7.bias"], 0)
        return ref.cross_entropy(anp.dot(h, p["9.weight"]) + p["9.bias"], y, 3)

    value, grads = ms.value_and_grad(
        lambda p: nn.cross_entropy(model(p, ms.asarray(x)), ms.asarray(y))
    )(params)
    host = ms.to_numpy(params)
    assert float(value) == pytest.approx(theirs(host), rel=1e-12)
    expected = autograd.grad(theirs)(host)
    for k in host:
        np.testing.assert_allclose(ms.to_numpy(grads[k]), expected[k], rtol=1e-9, atol=1e-12)


def test_hvp_matches_autograd(backend, rng):
    model, params, x, y = _mlp_problem(rng)
    host = ms.to_numpy(params)
    v = {k: rng.standard_normal(a.shape) for k, a in host.items()}

    def ours(p):
        return nn.cross_entropy(model(p, ms.asarray(x)), ms.asarray(y))

    def theirs(p):
        return ref.cross_entropy(ref.mlp(p, x, 2), y, 3)

    def theirs_grad_dot_v(p):
        g = autograd.grad(theirs)(p)
        return sum(anp.sum(g[k] * v[k]) for k in p)

    expected = autograd.grad(theirs_grad_dot_v)(host)
    got = ms.hvp(ours)(params, ms.asarray(v))
    for k in host:
        np.testing.assert_allclose(ms.to_numpy(got[k]), expected[k], rtol=1e-9, atol=1e-12)


def test_hvp_of_a_quadratic_is_the_matrix_times_v(backend, rng):
    a = rng.standard_normal((4, 4))
    h = a + a.T
    w, v = rng.standard_normal(4), rng.standard_normal(4)
    hv = ms.hvp(lambda w: 0.5 * (w @ ms.asarray(h) @ w))(ms.asarray(w), ms.asarray(v))
    np.testing.assert_allclose(ms.to_numpy(hv), h @ v, rtol=1e-12)


def test_float32_stays_float32(backend, rng):
    model, _, x, y = _mlp_problem(rng)
    params = model.init(seed=1)  # float32 by default
    value, grads = ms.value_and_grad(
        lambda p: nn.cross_entropy(model(p, ms.asarray(x.astype(np.float32))), ms.asarray(y))
    )(params)
    assert value.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_gradients_come_in_the_parameters_dtype(backend, rng):
    """float32 weights used with float64 data: the value is float64 (NumPy's promotion),
    the gradient stays float32 like its parameter, so optimizer state never drifts to
    float64 silently."""
    w = ms.asarray(rng.standard_normal((3, 2)).astype(np.float32))
    x = ms.asarray(rng.standard_normal((4, 3)))
    value, g = ms.value_and_grad(lambda w: (x @ w).sum())(w)
    assert value.dtype == np.float64 and g.dtype == np.float32
