"""The training loop: it is a plain loop over opt.step, it evaluates at the unperturbed
weights, resumes bitwise, stops on divergence with an intact checkpoint, writes its JSON,
and it really trains (MNIST-1D; Fashion-MNIST from the Debian package)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minimsam as ms
from minimsam import data, nn, optim, train
from minimsam.optim import schedules

TIMING_KEYS = ("time", "eval_time")


@pytest.fixture(scope="module")
def mnist1d(tmp_path_factory):
    """MNIST-1D, generated into a private directory (never into the user's cache)."""
    pytest.importorskip("mnist1d")
    return data.load("mnist1d", data_dir=tmp_path_factory.mktemp("mnist1d"))


MODEL = nn.MLP([6, 16, 3])


def without_timing(records):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


def assert_trees_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert_trees_equal(a[k], b[k])
        else:
            x, y = ms.to_numpy(a[k]), ms.to_numpy(b[k])
            assert np.asarray(x).dtype == np.asarray(y).dtype, k
            np.testing.assert_array_equal(x, y, err_msg=k)


# ----------------------------------------------------------------------------- the loop


def test_fit_is_a_plain_loop_over_optimizer_steps(blobs):
    """Params, state and opt_loss equal a hand-written loop over the same batches."""
    opt = optim.SAM(lr=schedules.cosine(0.1, total_steps=15), rho=0.1)
    result = train.fit(MODEL, MODEL.init(1), opt, blobs, epochs=3, batch_size=32, seed=4)

    def loss(w, x, y):
        return nn.cross_entropy(MODEL(w, x), y)

    vg = ms.value_and_grad(loss)
    params = MODEL.init(1)
    state = opt.init(params)
    for epoch in range(3):
        losses = []
        for xb, yb in data.epoch_batches(blobs, 32, seed=4, epoch=epoch):
            params, state, info = opt.step(params, state, lambda w, x=xb, y=yb: vg(w, x, y))
            losses.append(float(info.loss))
        record = result.history[epoch]
        assert record["opt_loss"] == pytest.approx(np.mean(losses), rel=1e-12)
        assert record["grad_evals"] == 2 * len(losses) == 10  # SAM: two per step
        assert record["steps"] == 5 * (epoch + 1)
    assert_trees_equal(result.params, params)
    assert_trees_equal(result.state, state)
    assert result.history[-1]["lr"] == pytest.approx(opt.lr(14))
    assert result.summary["grad_evals_per_step"] == 2.0


def test_evaluation_uses_the_unperturbed_weights(blobs):
    """MSAM holding the perturbed point: metrics are those of eval_params, not params."""
    opt = optim.MSAM(lr=0.1, rho=0.5, store_perturbed=True)
    result = train.fit(MODEL, MODEL.init(0), opt, blobs, epochs=2, batch_size=32)
    w = opt.eval_params(result.params, result.state)
    assert_trees_equal(result.eval_params, w)
    last = result.history[-1]
    assert (last["test_loss"], last["test_acc"]) == train.evaluate(
        MODEL, w, blobs.x_test, blobs.y_test
    )
    assert (last["train_loss"], last["train_acc"]) == train.evaluate(
        MODEL, w, blobs.x_train, blobs.y_train
    )
    perturbed_loss, _ = train.evaluate(MODEL, result.params, blobs.x_test, blobs.y_test)
    assert perturbed_loss != last["test_loss"]


def test_step_callbacks_see_each_step_before_it_is_taken(blobs):
    """The hook gets t = 0, 1, ..., the unperturbed weights, v_t, and the loss of the
    batch step t is about to use: for SGD that is exactly the loss the step reports."""
    from minimsam.sharpness import CurvatureProbe

    seen = []

    def hook(t, w, state, batch_loss):
        seen.append((t, float(batch_loss(w)), float(optim.global_norm(state["momentum"]))))

    probe = CurvatureProbe(every=2, directions=("momentum", "gradient"))
    opt = optim.SGD(lr=0.05, momentum=0.9)
    result = train.fit(MODEL, MODEL.init(0), opt, blobs, epochs=2, batch_size=32,
                       step_callbacks=[hook, probe])  # fmt: skip
    assert [t for t, _, _ in seen] == list(range(10))
    assert seen[0][2] == 0.0 and seen[1][2] > 0.0  # v_0 = 0, then momentum builds up
    for epoch, record in enumerate(result.history):
        losses = [loss for _, loss, _ in seen[5 * epoch : 5 * epoch + 5]]
        assert record["opt_loss"] == pytest.approx(np.mean(losses), rel=1e-6)
    assert [r["step"] for r in probe.records] == [0, 2, 4, 6, 8]
    assert all(np.isfinite(r["gradient"]) for r in probe.records)


def test_evaluate_matches_a_direct_computation(blobs):
    params = MODEL.init(3)
    loss, acc = train.evaluate(MODEL, params, blobs.x_test, blobs.y_test, batch_size=7)
    logits = ms.to_numpy(MODEL(params, ms.asarray(blobs.x_test))).astype(np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected_loss = -log_p[np.arange(60), blobs.y_test].mean()
    expected_acc = np.mean(logits.argmax(axis=1) == blobs.y_test)
    assert isinstance(loss, float) and isinstance(acc, float)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert acc == expected_acc


def test_outputs_are_json_lines_and_a_summary(blobs, tmp_path):
    opt = train.make_optimizer("msam", lr=0.1, rho=0.5)
    config = {"note": "a test"}
    result = train.fit(MODEL, MODEL.init(0), opt, blobs, epochs=3, batch_size=32,
                       out_dir=tmp_path, config=config)  # fmt: skip
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records == result.history
    assert [r["epoch"] for r in records] == [1, 2, 3]
    for r in records:
        assert set(r) >= {"epoch", "steps", "opt_loss", "train_loss", "train_acc", "test_loss",
                          "test_acc", "time", "eval_time", "grad_evals", "lr", "rho"}  # fmt: skip
        assert r["grad_evals"] == 5 and r["rho"] == 0.5 and r["time"] > 0
        assert 0.0 <= r["test_acc"] <= 1.0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result.summary))
    assert summary["config"] == config
    assert summary["final"] == records[-1]
    assert summary["steps"] == 15 and summary["grad_evals_per_step"] == 1.0
    assert summary["time_per_epoch"] == pytest.approx(np.mean([r["time"] for r in records]))
    assert summary["best_test_acc"] == max(r["test_acc"] for r in records)
    assert summary["run"]["optimizer"]["class"] == "MSAM"
    assert summary["run"]["optimizer"]["rho"] == 0.5 and summary["run"]["dtype"] == "float32"
    ckpt = train.load_checkpoint(tmp_path / "checkpoint.npz")
    assert ckpt.epoch == 3 and ckpt.meta["history"] == records
    assert_trees_equal(ckpt.params, result.params)
    assert_trees_equal(ckpt.state, result.state)


def test_progress_bar_only_on_request(blobs, capsys):
    train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, epochs=1, batch_size=32)
    assert capsys.readouterr().err == ""  # stderr is not a terminal here
    pytest.importorskip("tqdm")
    train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, epochs=1, batch_size=32,
              progress=True)  # fmt: skip
    assert "/5 " in capsys.readouterr().err  # a bar over the 5 steps


# ----------------------------------------------------------------------------- resume


@pytest.mark.parametrize("which", ["msam-stored-perturbed", "adamw"])
def test_resume_is_bitwise_identical(backend, blobs, tmp_path, which):
    """2 epochs, stop, resume to 4 == 4 epochs in one go, on every backend."""

    def make():
        lr = schedules.warmup_cosine(0.1, warmup_steps=3, total_steps=20)
        if which == "adamw":
            return optim.AdamW(lr=lr, weight_decay=0.1)
        return optim.MSAM(lr=lr, rho=0.5, weight_decay=1e-3, store_perturbed=True)

    whole = train.fit(MODEL, MODEL.init(0), make(), blobs, epochs=4, batch_size=32, seed=2,
                      out_dir=tmp_path / "whole", label_smoothing=0.1)  # fmt: skip
    first = train.fit(MODEL, MODEL.init(0), make(), blobs, epochs=2, batch_size=32, seed=2,
                      out_dir=tmp_path / "split", label_smoothing=0.1)  # fmt: skip
    assert len(first.history) == 2
    # resume ignores the params passed in: the checkpoint's are used
    resumed = train.fit(MODEL, MODEL.init(99), make(), blobs, epochs=4, batch_size=32, seed=2,
                        out_dir=tmp_path / "split", label_smoothing=0.1, resume=True)  # fmt: skip
    assert isinstance(resumed.params["0.weight"], backend.array_type)
    assert_trees_equal(resumed.params, whole.params)
    assert_trees_equal(resumed.state, whole.state)
    assert without_timing(resumed.history) == without_timing(whole.history)
    logs = [(tmp_path / d / "log.jsonl").read_text().splitlines() for d in ("whole", "split")]
    assert without_timing(map(json.loads, logs[0])) == without_timing(map(json.loads, logs[1]))


def test_resume_refuses_a_checkpoint_of_another_run(blobs, tmp_path):
    train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, 1, batch_size=32, out_dir=tmp_path)
    with pytest.raises(ValueError, match="different run.*seed"):
        train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, 2, batch_size=32, seed=1,
                  out_dir=tmp_path, resume=True)  # fmt: skip
    with pytest.raises(ValueError, match="different run.*optimizer"):
        train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.2), blobs, 2, batch_size=32,
                  out_dir=tmp_path, resume=True)  # fmt: skip
    with pytest.raises(ValueError, match="out_dir"):
        train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, 2, resume=True)


def test_fit_takes_a_run_config_or_its_fields(blobs):
    run = train.RunConfig(epochs=2, batch_size=32, seed=3, label_smoothing=0.1)
    a = train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, run=run)
    b = train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, 2, batch_size=32, seed=3,
                  label_smoothing=0.1)  # fmt: skip
    assert_trees_equal(a.params, b.params)
    with pytest.raises(TypeError, match="batchsize"):
        train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, 2, batchsize=32)
    with pytest.raises(TypeError, match="either run"):
        train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, 2, run=run)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        train.RunConfig(epochs=1, batch_size=0)


def test_resume_without_a_checkpoint_starts_afresh(blobs, tmp_path):
    a = train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, 2, batch_size=32,
                  out_dir=tmp_path / "a", resume=True)  # fmt: skip
    b = train.fit(MODEL, MODEL.init(0), optim.SGD(lr=0.1), blobs, 2, batch_size=32)
    assert_trees_equal(a.params, b.params)


# ----------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("check_finite", [False, True])
def test_divergence_stops_with_the_last_checkpoint_intact(blobs, tmp_path, check_finite):
    """The learning rate jumps from 0.1 to 1e30 after epoch 1 (5 steps): epoch 2 blows up."""
    lr = schedules.step_decay(0.1, milestones=[5], gamma=1e29)
    opt = optim.SGD(lr=lr, momentum=0.9, check_finite=check_finite)
    after_epoch_1 = {}

    def remember(record, params, state):
        after_epoch_1.update(ms.to_numpy(params)) if record["epoch"] == 1 else None

    with pytest.raises(train.TrainingDiverged, match="epoch 2") as err:
        with np.errstate(all="ignore"):
            train.fit(MODEL, MODEL.init(0), opt, blobs, epochs=3, batch_size=32,
                      out_dir=tmp_path, callbacks=[remember])  # fmt: skip
    assert isinstance(err.value, FloatingPointError)
    ckpt = train.load_checkpoint(tmp_path / "checkpoint.npz")
    assert ckpt.epoch == 1 and ckpt.state["step"] == 5
    for k, w in ckpt.params.items():
        assert np.all(np.isfinite(w))
        np.testing.assert_array_equal(w, after_epoch_1[k])
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1
    assert not (tmp_path / "summary.json").exists()


# ----------------------------------------------------------------------------- make_optimizer


def test_make_optimizer_maps_names_defaults_and_schedules():
    for name, cls in train.OPTIMIZERS.items():
        opt = train.make_optimizer(name)
        assert type(opt) is cls
        for key, value in train.DEFAULTS[name].items():
            assert getattr(opt, key) == value
    assert train.make_optimizer("msam", rho=2.0).rho == 2.0
    cos = train.make_optimizer("sgd", lr=0.2, schedule="cosine", total_steps=100)
    assert cos.hyper("lr", 0) == 0.2 and cos.hyper("lr", 50) == pytest.approx(0.1)
    assert cos.hyper("lr", 100) == 0.0
    warm = train.make_optimizer("sam", lr=0.2, schedule="warmup-cosine", warmup_steps=10,
                                total_steps=100)  # fmt: skip
    assert warm.hyper("lr", 0) == pytest.approx(0.02) and warm.hyper("lr", 9) == 0.2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "adam"}, "unknown optimizer 'adam'"),
        ({"name": "sgd", "rho": 0.1}, "'sgd' has no rho"),
        ({"name": "adamw", "momentum": 0.9}, "'adamw' has no momentum"),
        ({"name": "sgd", "lr": -1.0}, "lr"),
        ({"name": "sgd", "lr": -1.0, "schedule": "cosine", "total_steps": 10}, "lr"),
        ({"name": "msam", "rho": -0.1}, "rho"),
        ({"name": "sgd", "schedule": "cosine"}, "total_steps"),
        ({"name": "sgd", "schedule": "step"}, "unknown schedule"),
        ({"name": "sgd", "warmup_steps": 5}, "warmup-cosine"),
    ],
)
def test_make_optimizer_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train.make_optimizer(**kwargs)


# ----------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_mnist1d_mlp_learns(mnist1d):
    """SGD, lr 0.1, cosine over 10 epochs: measured test accuracy 0.617-0.660 (seeds 0-3,
    seed 0 gives 0.617); chance is 0.1. Asserting 0.55 leaves room for platform rounding."""
    model = nn.MLP([40, 256, 256, 10])
    opt = train.make_optimizer("sgd", lr=0.1, schedule="cosine", total_steps=10 * 32)
    result = train.fit(model, model.init(0), opt, mnist1d, epochs=10)
    accs = [r["test_acc"] for r in result.history]
    assert accs[-1] > 0.55
    assert accs[-1] > accs[0]
    assert result.history[-1]["train_acc"] > accs[-1]  # a generalization gap, as expected


@pytest.fixture(scope="module")
def fashion(debian_fashion_dir):
    return data.load("fashion-mnist", data_dir=debian_fashion_dir, download=False)


@pytest.mark.slow
def test_fashion_mnist_mlp_one_epoch_above_80_percent(fashion):
    """One epoch of SGD (lr 0.05, momentum 0.9, constant) on an MLP 784-128-10: measured
    test accuracy 0.831-0.851 (seeds 0-3; seed 0 gives 0.831)."""
    model = nn.MLP([784, 128, 10])
    opt = train.make_optimizer("sgd", lr=0.05, momentum=0.9)
    result = train.fit(model, model.init(0), opt, fashion, epochs=1, eval_train=False)
    assert result.history[0]["test_acc"] > 0.80
    assert result.history[0]["train_acc"] is None
