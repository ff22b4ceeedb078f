"""Data parallelism, accumulation and loss scaling on simulated workers (optim.data_parallel).

The one-process step on the whole batch is the control: what must equal it does, to
rounding, and SAM's per-worker ascent must not.
"""

import numpy as np
import pytest

import minimsam as ms
from minimsam import nn, optim
from minimsam.optim import data_parallel as dp

BATCH, STEPS = 8, 5
MODEL = nn.MLP([3, 5, 3], activation="tanh")


def make_problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(STEPS, BATCH, 3))
    y = rng.integers(0, 3, size=(STEPS, BATCH))
    with ms.use_backend("numpy"):
        params = {k: np.array(v) for k, v in MODEL.init(seed=1, dtype="float64").items()}
    return params, x, y


def grad_fn(x, y, multiply=1.0, poison=False):
    value_and_grad = ms.value_and_grad(lambda p: nn.cross_entropy(MODEL(p, x), y))

    def fn(point):
        with ms.use_backend("numpy"):
            loss, grads = value_and_grad(point)
        grads = {k: multiply * np.asarray(g) for k, g in grads.items()}
        if poison:  # an overflow of the scaled gradient
            grads = {k: np.full_like(g, np.inf) for k, g in grads.items()}
        return float(loss), grads

    return fn


def shards_at(x, y, t, workers, micro=1, scale=1.0, collectives=None, poison=()):
    slices = dp.shard_slices(BATCH, workers, micro)
    fns = [
        grad_fn(x[t, s], y[t, s], multiply=scale, poison=i in poison) for i, s in enumerate(slices)
    ]
    return dp.Shards(fns, workers, scale=scale, collectives=collectives)


def run_parallel(opt, workers, micro=1, ascent="global", collectives=None):
    params, x, y = make_problem()
    state = opt.init(params)
    for t in range(STEPS):
        shards = shards_at(x, y, t, workers, micro, collectives=collectives)
        params, state, info = dp.step(opt, params, state, shards, sam_ascent=ascent)
        assert not info.skipped
    return params, state


def run_one_process(opt):
    params, x, y = make_problem()
    state = opt.init(params)
    for t in range(STEPS):
        params, state, _ = opt.step(params, state, grad_fn(x[t], y[t]))
    return params, state


def max_diff(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def make(name):
    return {
        "sgd": lambda: optim.SGD(lr=0.1, momentum=0.9, weight_decay=1e-2),
        "nag": lambda: optim.NAG(lr=0.1, momentum=0.9, weight_decay=1e-2),
        "msam": lambda: optim.MSAM(lr=0.1, momentum=0.9, rho=0.3, weight_decay=1e-2),
        "sam": lambda: optim.SAM(lr=0.1, momentum=0.9, rho=0.2, weight_decay=1e-2),
        "adamw-msam": lambda: optim.AdamWMSAM(lr=1e-2, rho=0.5),
    }[name]()


@pytest.mark.parametrize("name", ["sgd", "nag", "msam", "adamw-msam"])
@pytest.mark.parametrize("workers", [2, 4])
def test_one_gradient_optimizers_across_workers_equal_one_process(name, workers):
    got, _ = run_parallel(make(name), workers)
    want, _ = run_one_process(make(name))
    start, _, _ = make_problem()
    assert max_diff(want, start) > 1e-3  # the run moved the weights
    assert max_diff(got, want) < 1e-14


def test_msam_needs_no_more_communication_than_sgd():
    counts = {}
    for name in ("sgd", "msam", "sam"):
        collectives = dp.Collectives()
        run_parallel(make(name), 2, collectives=collectives)
        counts[name] = collectives.all_reduces
    assert counts == {"sgd": STEPS, "msam": STEPS, "sam": 2 * STEPS}


def test_sam_local_ascent_communicates_once_per_step():
    collectives = dp.Collectives()
    run_parallel(make("sam"), 2, ascent="local", collectives=collectives)
    assert collectives.all_reduces == STEPS


def test_sam_global_ascent_equals_one_process_sam_on_the_batch():
    got, state = run_parallel(make("sam"), 4)
    want, want_state = run_one_process(make("sam"))
    assert max_diff(got, want) < 1e-14
    assert max_diff(state["momentum"], want_state["momentum"]) < 1e-13
    assert state["step"] == want_state["step"] == STEPS


def test_sam_local_ascent_differs_from_global_and_one_worker_is_global():
    local, _ = run_parallel(make("sam"), 2, ascent="local")
    glob, _ = run_parallel(make("sam"), 2, ascent="global")
    one_worker_local, _ = run_parallel(make("sam"), 1, ascent="local")
    assert max_diff(local, glob) > 1e-4
    assert max_diff(one_worker_local, glob) < 1e-14


def test_local_ascent_is_m_sharpness_written_out():
    """Step 0 by hand: e_k from each worker's own gradient, the mean of g_k(w + e_k)."""
    params, x, y = make_problem()
    opt = make("sam")
    got, _, _ = dp.step(opt, params, opt.init(params), shards_at(x, y, 0, 2), "local")
    halves = dp.shard_slices(BATCH, 2)
    second = []
    for s in halves:
        fn = grad_fn(x[0, s], y[0, s])
        g1 = fn(params)[1]
        norm = np.sqrt(sum(np.sum(g**2) for g in g1.values()))
        second.append(fn({k: params[k] + 0.2 * g1[k] / (norm + optim.EPS) for k in params})[1])
    want = {
        k: params[k] - 0.1 * ((second[0][k] + second[1][k]) / 2 + 1e-2 * params[k]) for k in params
    }
    assert max_diff(got, want) < 1e-15


@pytest.mark.parametrize("name", ["sam", "msam"])
def test_accumulation_equals_data_parallel(name):
    """k micro-batches on one worker = k workers, for both SAM ascents."""
    for ascent in ("global", "local"):
        accumulated, _ = run_parallel(make(name), 1, micro=4, ascent=ascent)
        parallel, _ = run_parallel(make(name), 4, ascent=ascent)
        assert max_diff(accumulated, parallel) < 1e-14


def test_accumulation_makes_no_all_reduce():
    collectives = dp.Collectives()
    run_parallel(make("sam"), 1, micro=4, collectives=collectives)
    assert collectives.all_reduces == 0


@pytest.mark.parametrize("name", ["sam", "msam"])
def test_the_loss_scale_never_reaches_the_step(name):
    """Gradients arriving times s = 2**16 give the unscaled run's params exactly."""
    params, x, y = make_problem()
    opt = make(name)
    plain = scaled = params
    plain_state = scaled_state = opt.init(params)
    for t in range(STEPS):
        plain, plain_state, _ = dp.step(opt, plain, plain_state, shards_at(x, y, t, 2))
        shards = shards_at(x, y, t, 2, scale=2.0**16)
        scaled, scaled_state, _ = dp.step(opt, scaled, scaled_state, shards)
    assert max_diff(scaled, plain) == 0.0


def test_the_scale_in_the_norm_would_shrink_the_ascent():
    """The control: with the scale left in the norm, e is s times shorter and w differs."""
    params, x, y = make_problem()
    opt = make("sam")
    state = opt.init(params)
    shards = shards_at(x, y, 0, 2, scale=2.0**10)
    groups = dp.ascent_groups(2, "global")
    wrong, _ = dp.sam_step(opt, params, state, shards, groups, norm_scale=2.0**10)
    right, _ = dp.sam_step(opt, params, state, shards_at(x, y, 0, 2, scale=2.0**10), groups)
    assert max_diff(wrong, right) > 1e-5


@pytest.mark.parametrize(
    ("name", "poisoned"),
    [("sam", "first"), ("sam", "second"), ("msam", "first"), ("sgd", "first")],
)
def test_a_non_finite_pass_skips_the_whole_step(name, poisoned):
    params, x, y = make_problem()
    opt = make(name)
    state = opt.init(params)
    params, state, _ = dp.step(opt, params, state, shards_at(x, y, 0, 2))
    fns = [grad_fn(x[1, s], y[1, s]) for s in dp.shard_slices(BATCH, 2)]
    calls = {"n": 0}

    def poisoned_fn(point, fn=fns[1]):  # worker 1 overflows in the chosen pass
        calls["n"] += 1
        loss, grads = fn(point)
        in_second = calls["n"] > 1
        if (poisoned == "second") == in_second:
            grads = {k: np.full_like(g, np.nan) for k, g in grads.items()}
        return loss, grads

    shards = dp.Shards([fns[0], poisoned_fn], 2)
    new_params, new_state, info = dp.step(opt, params, state, shards)
    assert info.skipped
    assert new_params is params and new_state is state
    assert new_state["step"] == 1
    if poisoned == "first" and name == "sam":
        assert calls["n"] == 1  # no second pass after a non-finite first one


def test_the_scaler_backs_off_on_a_skip_and_grows_after_an_interval():
    scaler = dp.LossScaler(scale=1024.0, growth_interval=3)
    assert scaler.update(skipped=True).scale == 512.0
    grown = scaler.update(False).update(False).update(False)
    assert grown.scale == 2048.0 and grown.good_steps == 0
    assert scaler.update(False).update(True).good_steps == 0


@pytest.mark.parametrize(
    ("workers", "micro", "message"),
    [(16, 1, "more than the batch of 8"), (3, 1, "does not split into 3 equal shards")],
)
def test_bad_splits_are_one_line_errors(workers, micro, message):
    with pytest.raises(ValueError, match=message) as err:
        dp.shard_slices(BATCH, workers, micro)
    assert "\n" not in str(err.value)


def test_unknown_ascent_is_refused():
    params, x, y = make_problem()
    opt = make("sam")
    with pytest.raises(ValueError, match="sam_ascent must be one of"):
        dp.step(opt, params, opt.init(params), shards_at(x, y, 0, 2), sam_ascent="worker")
