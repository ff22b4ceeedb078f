"""The fused ops (``linear``, ``softmax_cross_entropy``) equal the ops they replace,
in value, gradient and Hessian-vector product (so second order still works)."""

from __future__ import annotations

import numpy as np

import minimsam as ms
from minimsam import autodiff as ad
from minimsam import nn


def _params(rng, dtype=np.float64):
    return {
        "w": ms.asarray(rng.standard_normal((6, 4)).astype(dtype)),
        "b": ms.asarray(rng.standard_normal(4).astype(dtype)),
    }


def _fused(p, x, q):
    return ad.softmax_cross_entropy(ad.tanh(ad.linear(x, p["w"], p["b"])), q)


def _unfused(p, x, q):
    logits = ad.tanh(ad.add(ad.matmul(x, p["w"]), p["b"]))
    return ad.neg(ad.mean(ad.sum(ad.mul(q, ad.log_softmax(logits, axis=1)), axis=1)))


def _data(rng, label_smoothing=0.1):
    x = ms.asarray(rng.standard_normal((5, 6)))
    q = nn.smoothed_targets(ms.asarray(rng.integers(0, 4, 5)), 4, label_smoothing, dtype=np.float64)
    return x, q


def test_value_and_gradient_match_the_unfused_ops(backend, rng):
    p, (x, q) = _params(rng), _data(rng)
    v1, g1 = ms.value_and_grad(_fused)(p, x, q)
    v2, g2 = ms.value_and_grad(_unfused)(p, x, q)
    np.testing.assert_allclose(float(ms.to_numpy(v1)), float(ms.to_numpy(v2)), rtol=1e-12)
    for k in p:
        np.testing.assert_allclose(ms.to_numpy(g1[k]), ms.to_numpy(g2[k]), rtol=1e-10, atol=1e-14)


def test_hessian_vector_product_matches_the_unfused_ops(backend, rng):
    p, (x, q) = _params(rng), _data(rng)
    v = {k: ms.asarray(rng.standard_normal(a.shape)) for k, a in p.items()}
    h1 = ms.hvp(_fused)(p, v, x, q)
    h2 = ms.hvp(_unfused)(p, v, x, q)
    for k in p:
        np.testing.assert_allclose(ms.to_numpy(h1[k]), ms.to_numpy(h2[k]), rtol=1e-9, atol=1e-12)


def test_gradient_with_respect_to_the_input_of_linear(backend, rng):
    p, (x, q) = _params(rng), _data(rng, 0.0)
    gx1 = ms.grad(lambda x_: _fused(p, x_, q))(x)
    gx2 = ms.grad(lambda x_: _unfused(p, x_, q))(x)
    np.testing.assert_allclose(ms.to_numpy(gx1), ms.to_numpy(gx2), rtol=1e-10, atol=1e-14)


def test_linear_without_bias_and_on_3d_inputs_falls_back(backend, rng):
    w = ms.asarray(rng.standard_normal((6, 4)))
    b = ms.asarray(rng.standard_normal(4))
    x3 = ms.asarray(rng.standard_normal((2, 5, 6)))
    got = ms.to_numpy(ad.linear(x3, w, b))
    np.testing.assert_allclose(got, ms.to_numpy(x3) @ ms.to_numpy(w) + ms.to_numpy(b))
    np.testing.assert_allclose(ms.to_numpy(ad.linear(x3, w)), ms.to_numpy(x3) @ ms.to_numpy(w))


def test_a_training_step_records_few_ops(backend, rng):
    """The MLP's loss is one op per layer and one for the loss: 3 linear, 2 relu, 1 loss."""
    model = nn.MLP([6, 8, 8, 3])
    params = model.init(seed=0)
    x = ms.asarray(rng.standard_normal((4, 6)).astype(np.float32))
    y = ms.asarray(rng.integers(0, 3, 4))
    leaves = {k: ad.Tensor(v, requires_grad=True) for k, v in params.items()}
    loss = nn.cross_entropy(model(leaves, x), y)
    from minimsam.autodiff.tensor import _functions_in_graph

    names = sorted(type(f).__name__ for f in _functions_in_graph(loss))
    assert names == ["Linear"] * 3 + ["ReLU"] * 2 + ["SoftmaxCrossEntropy"]
