"""train.fit on models with batch norm: the running statistics are threaded through the
steps as nn.batch_grad_fn does it, saved and resumed, and re-estimated for evaluation
(reestimate_batches) without changing the trajectory."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import nn, optim, train
from minimsam.data import epoch_batches

MODEL = nn.MLP([6, 16, 3], batchnorm=True)  # trained on the `blobs` fixture (tests/conftest.py)


def assert_trees_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(ms.to_numpy(a[k]), ms.to_numpy(b[k]), err_msg=k)


def test_fit_is_the_documented_loop_with_statistics(blobs):
    opt = optim.SAM(0.1, rho=0.1)
    result = train.fit(MODEL, MODEL.init(1), opt, blobs, epochs=2, batch_size=32, seed=3)
    params, state, stats = MODEL.init(1), opt.init(MODEL.init(1)), MODEL.init_stats()
    for epoch in range(2):
        for xb, yb in epoch_batches(blobs, 32, seed=3, epoch=epoch):
            grad_fn = nn.batch_grad_fn(MODEL, stats, xb, yb)
            params, state, _ = opt.step(params, state, grad_fn)
            stats = grad_fn.new_stats
    assert_trees_equal(result.params, params)
    assert_trees_equal(result.stats, stats)
    assert_trees_equal(result.eval_stats, stats)
    loss, acc = train.evaluate(MODEL.eval_with(stats), params, blobs.x_test, blobs.y_test)
    assert result.history[-1]["test_loss"] == loss and result.history[-1]["test_acc"] == acc


def test_reestimation_is_for_evaluation_only(blobs):
    def run(n):
        return train.fit(MODEL, MODEL.init(0), optim.MSAM(0.1, rho=0.5), blobs, epochs=2,
                         batch_size=32, reestimate_batches=n)  # fmt: skip

    plain, reestimated = run(0), run(3)
    assert_trees_equal(reestimated.params, plain.params)  # the same trajectory
    assert_trees_equal(reestimated.stats, plain.stats)
    expected = nn.reestimate_stats(MODEL, plain.eval_params, plain.stats,
                                   epoch_batches(blobs, 32, seed=0, epoch=1), 3)  # fmt: skip
    assert_trees_equal(reestimated.eval_stats, expected)
    assert not np.array_equal(expected["1.running_mean"], plain.stats["1.running_mean"])
    loss, _ = train.evaluate(MODEL.eval_with(expected), plain.eval_params, blobs.x_test,
                             blobs.y_test)  # fmt: skip
    assert reestimated.history[-1]["test_loss"] == loss != plain.history[-1]["test_loss"]


def test_resume_restores_the_statistics_bitwise(blobs, tmp_path):
    def fit(epochs, out, resume=False):
        return train.fit(MODEL, MODEL.init(0), optim.SGD(0.1, momentum=0.9), blobs,
                         epochs=epochs, batch_size=32, out_dir=tmp_path / out,
                         resume=resume)  # fmt: skip

    whole = fit(3, "whole")
    fit(1, "split")
    resumed = fit(3, "split", resume=True)
    assert_trees_equal(resumed.params, whole.params)
    assert_trees_equal(resumed.stats, whole.stats)
    assert train.load_checkpoint(tmp_path / "whole" / train.CHECKPOINT).stats.keys() == (
        whole.stats.keys()
    )


def test_step_callbacks_see_the_training_mode_batch_loss(blobs):
    seen = []

    def probe(t, w, state, batch_loss):
        seen.append(float(ms.to_numpy(batch_loss(w))))

    result = train.fit(MODEL, MODEL.init(0), optim.SGD(0.1), blobs, epochs=1, batch_size=32,
                       step_callbacks=[probe])  # fmt: skip
    assert len(seen) == 5 and all(np.isfinite(seen))
    # SGD's step loss is the loss at w, with the same statistics: the probe sees the same
    assert np.mean(seen) == pytest.approx(result.history[0]["opt_loss"], rel=1e-6)


def test_options_that_need_batch_norm_refuse_other_models(blobs):
    plain = nn.MLP([6, 16, 3])
    with pytest.raises(ValueError, match="reestimate_batches needs a model with batch norm"):
        train.fit(plain, plain.init(0), optim.SGD(0.1), blobs, epochs=1, reestimate_batches=2)
    with pytest.raises(ValueError, match="stats given, but the model has no batch norm"):
        train.fit(plain, plain.init(0), optim.SGD(0.1), blobs, epochs=1,
                  stats=MODEL.init_stats())  # fmt: skip
