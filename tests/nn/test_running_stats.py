"""Running statistics through optimizer steps: the reference choices for SAM and MSAM."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import nn, optim


def _setup(seed=0):
    model = nn.MLP([4, 6, 6, 3], batchnorm=True)
    rng = np.random.default_rng(seed)
    batches = [(ms.asarray(rng.standard_normal((8, 4)).astype(np.float32) * 2 + 1),
                ms.asarray(rng.integers(0, 3, 8))) for _ in range(5)]  # fmt: skip
    return model, model.init(seed=seed), model.init_stats(), batches


def _train(opt, model, params, stats, batches, grad_fn_factory=nn.batch_grad_fn):
    state = opt.init(params)
    for x, y in batches:
        grad_fn = grad_fn_factory(model, stats, x, y)
        params, state, _ = opt.step(params, state, grad_fn)
        stats = grad_fn.new_stats
    return params, stats


class _BothPasses:
    """The pitfall: every forward pass of the step updates the running statistics."""

    def __init__(self, model, stats, x, y):
        self.model, self.new_stats, self.x, self.y = model, stats, x, y

    def __call__(self, w):
        def loss(p):
            logits, self.new_stats = self.model.apply(p, self.x, self.new_stats, train=True)
            return nn.cross_entropy(logits, self.y)

        return ms.value_and_grad(loss)(w)


def test_sam_with_rho_zero_equals_sgd_bit_for_bit_with_batchnorm(backend):
    model, params, stats, batches = _setup()
    sgd = _train(optim.SGD(0.1, momentum=0.9), model, params, stats, batches)
    sam = _train(optim.SAM(0.1, momentum=0.9, rho=0.0), model, params, stats, batches)
    for got, want in zip(sam, sgd):  # params, then running statistics
        for k in want:
            np.testing.assert_array_equal(ms.to_numpy(got[k]), ms.to_numpy(want[k]), err_msg=k)
    # the control: updating the statistics in both passes breaks the equality
    both = _train(optim.SAM(0.1, momentum=0.9, rho=0.0), model, params, stats, batches,
                  _BothPasses)  # fmt: skip
    assert not np.array_equal(ms.to_numpy(both[1]["1.running_var"]),
                              ms.to_numpy(sgd[1]["1.running_var"]))  # fmt: skip


def test_sam_keeps_the_first_pass_statistics_and_the_second_pass_uses_batch_statistics():
    model, params, stats, batches = _setup()
    x, y = batches[0]
    grad_fn = nn.batch_grad_fn(model, stats, x, y)
    _, _, info = optim.SAM(0.1, rho=0.5).step(params, optim.SAM(0.1).init(params), grad_fn,
                                              trace=True)  # fmt: skip
    assert grad_fn.calls == 2
    at_w = model.apply(info.points["w"], x, stats, train=True)[1]
    at_wp = model.apply(info.points["w_perturbed"], x, stats, train=True)[1]
    for k in stats:
        np.testing.assert_array_equal(grad_fn.new_stats[k], at_w[k])
        assert not np.array_equal(at_wp[k], at_w[k])  # so keeping the first pass matters

    def loss(p, train):
        if train:
            return nn.cross_entropy(model.apply(p, x, stats, train=True)[0], y)
        return nn.cross_entropy(model.eval_with(stats)(p, x), y)

    wp = info.points["w_perturbed"]
    expected = ms.grad(loss)(wp, True)
    evaluation_mode = ms.grad(loss)(wp, False)  # the other pitfall, for contrast
    for k in expected:
        np.testing.assert_array_equal(info.points["grad_at_perturbed"][k], expected[k])
    assert not np.allclose(evaluation_mode["0.weight"], expected["0.weight"])


def test_msam_statistics_come_from_the_perturbed_point():
    model, params, stats, batches = _setup()
    opt = optim.MSAM(0.1, rho=0.5)
    state = opt.init(params)
    for x, y in batches[:2]:  # the second step has a perturbation (v_1 != 0)
        grad_fn = nn.batch_grad_fn(model, stats, x, y)
        params_next, state_next, info = opt.step(params, state, grad_fn, trace=True)
        expected = model.apply(info.points["w_perturbed"], x, stats, train=True)[1]
        for k in stats:
            np.testing.assert_array_equal(grad_fn.new_stats[k], expected[k])
        params, state, stats = params_next, state_next, grad_fn.new_stats
    unperturbed = model.apply(info.points["w"], x, grad_fn.stats, train=True)[1]
    assert not np.array_equal(unperturbed["1.running_mean"], stats["1.running_mean"])


def test_reestimate_stats_is_the_moving_average_of_forward_passes_at_the_given_weights():
    model, params, stats, batches = _setup()
    expected = stats
    for x, _ in batches[:3]:
        expected = model.apply(params, x, expected, train=True)[1]
    got = nn.reestimate_stats(model, params, stats, iter(batches), num_batches=3)
    for k in stats:
        np.testing.assert_array_equal(got[k], expected[k])
    again = nn.reestimate_stats(model, params, stats, [x for x, _ in batches[:3]])  # inputs only
    assert all(np.array_equal(again[k], expected[k]) for k in stats)
    # many passes over one batch converge to that batch's statistics, forgetting the old ones
    x = batches[0][0]
    far = nn.reestimate_stats(model, params, stats, [x] * 200)
    mid = model.layers[0]({"weight": params["0.weight"], "bias": params["0.bias"]}, x)
    np.testing.assert_allclose(far["1.running_mean"], mid.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(far["1.running_var"], mid.var(axis=0, ddof=1), rtol=1e-4)


def test_helpers_refuse_misuse_in_one_line():
    model, params, stats, batches = _setup()
    with pytest.raises(RuntimeError, match="never called: pass it to opt.step first"):
        _ = nn.batch_grad_fn(model, stats, *batches[0]).new_stats
    with pytest.raises(ValueError, match="needs a model with batch norm"):
        nn.reestimate_stats(nn.MLP([4, 3]), {}, {}, batches)
    with pytest.raises(ValueError, match="got no batches"):
        nn.reestimate_stats(model, params, stats, [])
