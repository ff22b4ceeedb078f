"""Batch norm layers and models with running statistics, against torch.nn.BatchNorm*d."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import nn

torch = pytest.importorskip("torch")

CASES = [  # (ours, torch's, input shape)
    (nn.BatchNorm1d, "BatchNorm1d", (6, 3)),
    (nn.BatchNorm1d, "BatchNorm1d", (4, 3, 5)),
    (nn.BatchNorm2d, "BatchNorm2d", (3, 3, 4, 2)),
]


def _torch_layer(name, rng):
    layer = getattr(torch.nn, name)(3).double()
    with torch.no_grad():  # affine params away from (1, 0), so their role is tested
        layer.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, 3)))
        layer.bias.copy_(torch.from_numpy(rng.standard_normal(3)))
    return layer


def _params_of(layer):
    return {"weight": ms.asarray(layer.weight.detach().numpy().copy()),
            "bias": ms.asarray(layer.bias.detach().numpy().copy())}  # fmt: skip


@pytest.mark.parametrize("ours_cls, torch_name, shape", CASES, ids=lambda c: str(c))
def test_train_and_eval_mode_match_torch_over_several_steps(ours_cls, torch_name, shape, backend):
    rng = np.random.default_rng(0)
    theirs, ours = _torch_layer(torch_name, rng), ours_cls(3)
    params = _params_of(theirs)
    stats = {k: ms.asarray(v) for k, v in ours.init_stats().items()}
    theirs.train()
    for step in range(4):  # running statistics after several steps, batches of varied scale
        x = rng.standard_normal(shape) * (1 + step) + step
        y, stats = ours.apply(params, stats, ms.asarray(x), train=True)
        expected = theirs(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(ms.to_numpy(y), expected, rtol=1e-10, atol=1e-10)
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(ms.to_numpy(stats[name]),
                                       getattr(theirs, name).numpy(), rtol=1e-12,
                                       err_msg=f"{name} after step {step}")  # fmt: skip
    theirs.eval()
    x = rng.standard_normal(shape)
    y, after = ours.apply(params, stats, ms.asarray(x), train=False)
    np.testing.assert_allclose(ms.to_numpy(y), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-10)  # fmt: skip
    assert after is stats  # evaluation mode leaves the statistics as they were


@pytest.mark.parametrize("ours_cls, torch_name, shape", CASES, ids=lambda c: str(c))
def test_training_mode_gradients_match_torch(ours_cls, torch_name, shape):
    """Gradients with respect to the input flow through the batch mean and variance."""
    rng = np.random.default_rng(1)
    theirs, ours = _torch_layer(torch_name, rng), ours_cls(3)
    x, u = rng.standard_normal(shape), rng.standard_normal(shape)
    xt = torch.from_numpy(x).requires_grad_(True)
    (theirs(xt) * torch.from_numpy(u)).sum().backward()
    stats = {k: ms.asarray(v) for k, v in ours.init_stats().items()}

    def loss(tree):
        y, _ = ours.apply({"weight": tree["weight"], "bias": tree["bias"]}, stats, tree["x"],
                          train=True)  # fmt: skip
        return ms.autodiff.sum(ms.autodiff.mul(y, u))

    tree = {"x": x, **_params_of(theirs)}
    grads = ms.grad(loss)(tree)
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(grads["weight"], theirs.weight.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(grads["bias"], theirs.bias.grad.numpy(), rtol=1e-9)


def test_batchnorm_model_forward_and_running_stats_match_torch():
    model = nn.SmallCNN(image_size=8, channels=(2, 3), hidden=5, batchnorm=True)
    params = model.init(seed=0, dtype="float64")
    stats = model.init_stats(dtype="float64")
    t = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(12, 5),
        torch.nn.ReLU(), torch.nn.Linear(5, 10),
    ).double()  # fmt: skip
    state = {k: torch.from_numpy(ms.to_numpy(v)) for k, v in params.items()}
    for k in ("9.weight", "11.weight"):  # ours (in, out), torch (out, in)
        state[k] = state[k].T.contiguous()
    state.update({k: torch.from_numpy(ms.to_numpy(v)) for k, v in stats.items()})
    t.load_state_dict(state, strict=False)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((4, 1, 8, 8))
        logits, stats = model.apply(params, x, stats, train=True)
        np.testing.assert_allclose(logits, t(torch.from_numpy(x)).detach().numpy(), rtol=1e-9,
                                   atol=1e-10)  # fmt: skip
    for k, v in stats.items():
        np.testing.assert_allclose(v, t.state_dict()[k].numpy(), rtol=1e-12, err_msg=k)
    t.eval()
    x = rng.standard_normal((4, 1, 8, 8))
    np.testing.assert_allclose(model.eval_with(stats)(params, x),
                               t(torch.from_numpy(x)).detach().numpy(), rtol=1e-9,
                               atol=1e-10)  # fmt: skip


def test_models_without_batchnorm_keep_their_call_and_apply_passes_no_stats(rng):
    model = nn.MLP([3, 4, 2])
    params = model.init(seed=0, dtype="float64")
    x = rng.standard_normal((5, 3))
    assert not model.has_stats and model.init_stats() == {}
    logits, stats = model.apply(params, x, train=True)
    np.testing.assert_array_equal(logits, model(params, x))
    assert stats == {}


def test_mlp_with_batchnorm_layout():
    model = nn.MLP([3, 4, 4, 2], batchnorm=True)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Linear", "BatchNorm1d", "Activation", "Linear", "BatchNorm1d",
                     "Activation", "Linear"]  # fmt: skip
    assert list(model.init_stats()) == ["1.running_mean", "1.running_var", "4.running_mean",
                                        "4.running_var"]  # fmt: skip
    assert model.has_stats


def test_apply_does_not_modify_the_stats_it_is_given(rng):
    model = nn.MLP([3, 4, 2], batchnorm=True)
    params, stats = model.init(seed=0), model.init_stats()
    before = {k: v.copy() for k, v in stats.items()}
    _, new = model.apply(params, rng.standard_normal((5, 3)).astype("float32"), stats, train=True)
    for k in stats:
        np.testing.assert_array_equal(stats[k], before[k])
        assert not np.array_equal(new[k], before[k])


def test_errors_are_one_line_and_say_what_to_do(rng):
    model = nn.MLP([3, 4, 2], batchnorm=True)
    params, stats = model.init(seed=0), model.init_stats()
    x = rng.standard_normal((5, 3)).astype("float32")
    with pytest.raises(ValueError, match=r"model.apply\(params, x, stats, train=...\)"):
        model(params, x)
    with pytest.raises(ValueError, match="stats lacks 1.running_mean, 1.running_var"):
        model.apply(params, x, {}, train=True)
    with pytest.raises(TypeError, match="train"):
        model.apply(params, x, stats)  # the mode is never implicit
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        model.apply(params, x[:1], stats, train=True)
    model.apply(params, x[:1], stats, train=False)  # one sample is fine in evaluation
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\) expects a 4-D input"):
        nn.BatchNorm2d(3).apply({}, nn.BatchNorm2d(3).init_stats(), x, train=True)
