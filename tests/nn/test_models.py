"""Layers and models: parameter layout, initialisation, shapes, errors."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import nn


def test_mlp_parameters_in_layer_order_weight_before_bias(backend):
    params = nn.MLP([784, 256, 10]).init(seed=0)
    assert list(params) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert params["0.weight"].shape == (784, 256) and params["2.bias"].shape == (10,)
    assert all(v.dtype == np.float32 for v in params.values())
    assert isinstance(params["0.weight"], ms.get_backend().array_type)


def test_same_seed_gives_identical_weights_on_every_backend():
    host = nn.MLP([5, 4, 3]).init(seed=7, dtype="float64")
    with ms.use_backend("fakegpu"):
        device = ms.to_numpy(nn.MLP([5, 4, 3]).init(seed=7, dtype="float64"))
    for k in host:
        np.testing.assert_array_equal(host[k], device[k])
    other = nn.MLP([5, 4, 3]).init(seed=8, dtype="float64")
    assert not np.array_equal(host["0.weight"], other["0.weight"])


def test_he_initialisation_has_the_stated_variance():
    w = ms.to_numpy(nn.MLP([1000, 500, 2]).init(seed=0)["0.weight"])
    assert w.std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    assert np.all(ms.to_numpy(nn.MLP([1000, 500, 2]).init(seed=0)["0.bias"]) == 0)


def test_mlp_forward_is_the_composition_of_its_layers(backend, rng):
    model = nn.MLP([3, 4, 2], activation="tanh")
    p = ms.to_numpy(model.init(seed=0, dtype="float64"))
    x = rng.standard_normal((5, 3))
    expected = np.tanh(x @ p["0.weight"] + p["0.bias"]) @ p["2.weight"] + p["2.bias"]
    got = model(ms.asarray(p), ms.asarray(x))
    assert isinstance(got, ms.get_backend().array_type)  # plain arrays in, plain array out
    np.testing.assert_allclose(ms.to_numpy(got), expected, rtol=1e-12)


def test_small_cnn_maps_images_to_logits(backend, rng):
    model = nn.SmallCNN()
    params = model.init(seed=0)
    x = ms.asarray(rng.standard_normal((2, 1, 28, 28)).astype(np.float32))
    logits = model(params, x)
    assert logits.shape == (2, 10) and logits.dtype == np.float32


def test_bad_sizes_and_inputs_are_clear_errors(backend):
    with pytest.raises(ValueError, match="at least an input and an output"):
        nn.MLP([3])
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        nn.MLP([3, 2], activation="gelu")
    model = nn.MLP([3, 2])
    with pytest.raises(ValueError, match=r"last dimension must be 3"):
        model(model.init(), ms.asarray(np.ones((4, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match="float32 or float64"):
        model.init(dtype="int32")


def test_cross_entropy_without_smoothing_is_minus_log_p_of_the_label(backend, rng):
    logits = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    expected = -log_p[np.arange(4), labels].mean()
    got = nn.cross_entropy(ms.asarray(logits), ms.asarray(labels))
    assert float(got) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("style, off_target", [("torch", 0.3 / 3), ("msam", 0.3 / 2)])
def test_label_smoothing_styles(backend, style, off_target):
    q = ms.to_numpy(nn.smoothed_targets(ms.asarray(np.array([1])), 3, 0.3, style))
    on_target = 1 - 2 * off_target
    np.testing.assert_allclose(q, [[off_target, on_target, off_target]])
    np.testing.assert_allclose(q.sum(), 1.0)


def test_cross_entropy_rejects_mismatched_labels(backend):
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        nn.cross_entropy(ms.asarray(np.zeros((4, 3))), ms.asarray(np.zeros(5, dtype=int)))


def test_accuracy(backend):
    logits = ms.asarray(np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 0.0]]))
    assert float(nn.accuracy(logits, ms.asarray(np.array([0, 1, 1])))) == pytest.approx(2 / 3)
