"""Every knob of :mod:`minimsam.optim.variants` at its default is the optimizer itself,
bit for bit, over several steps with weight decay, lr and rho schedules and a step
whose gradient is exactly zero; and each knob, once set, changes the steps."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim
from minimsam.optim import variants

STEPS, ZERO_STEP = 6, 2
A = {"w": np.array([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]]), "b": np.array([0.2, -0.4])}


def _grad_fn(t_box):
    """L = sum(c_t x^3 / 3 + x^2 / 2) per tensor; the gradient is exactly 0 on ZERO_STEP."""

    def grad_fn(x):
        c = 0.0 if t_box[0] == ZERO_STEP else 1.0 + 0.1 * t_box[0]
        grads = {k: c * (v * v + v) for k, v in x.items()}
        loss = sum(float(np.sum(c * (v**3 / 3 + v * v / 2))) for v in x.values())
        return loss, grads

    return grad_fn


def _run(opt):
    params = {k: v.copy() for k, v in A.items()}
    state, t_box, seen = opt.init(params), [0], []
    grad_fn = _grad_fn(t_box)
    for t in range(STEPS):
        t_box[0] = t

        def recording(x, grad_fn=grad_fn):
            seen.append({k: v.copy() for k, v in x.items()})
            return grad_fn(x)

        params, state, _ = opt.step(params, state, recording)
    return params, state, seen


LR = lambda t: 0.05 * (1 + 0.3 * np.cos(t))  # noqa: E731
RHO = lambda t: 0.2 * (0.5, 1.0, 1.5)[t % 3]  # noqa: E731
SETTINGS = {
    "sgd": [dict(momentum=0.9, weight_decay=0.1), dict(momentum=0.9, weight_decay=0.1,
            nesterov=True), dict(momentum=0.0, weight_decay=0.1)],
    "nag": [dict(momentum=0.9, weight_decay=0.1)],
    "sam": [dict(momentum=0.9, weight_decay=0.1, rho=RHO)],
    "msam": [dict(momentum=0.9, weight_decay=0.1, rho=RHO)],
    "adamw": [dict(weight_decay=0.1)],
    "adamw-msam": [dict(weight_decay=0.1, rho=RHO)],
}  # fmt: skip
CASES = [(name, kw) for name, settings in SETTINGS.items() for kw in settings]


def _equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                          enumerate(CASES)])  # fmt: skip
def test_every_knob_at_its_default_is_the_optimizer_bit_for_bit(name, kwargs):
    with ms.use_backend("numpy"):
        want = _run(optim.BY_NAME[name](lr=LR, **kwargs))
        got = _run(variants.VARIANTS[name](lr=LR, **kwargs))
    assert _equal(got[0], want[0]) and _equal(got[2], want[2])  # params, every gradient point
    assert _equal({k: v for k, v in got[1].items()}, want[1])  # the state, step count included


KNOB_VALUES = {"carry": False, "decay": "none", "decay_at": "w", "first_momentum": "one-plus-mu",
               "sign": 0.0, "norm_eps": 0.0, "norm": "per-tensor", "radius": "rho-lr-mu",
               "rho_fixed": True, "rho_lag": True, "grad_at": "w", "step_from": "lookahead",
               "returns": "lookahead", "form": "torch", "decay_last": True,
               "decay_first": True}  # fmt: skip


@pytest.mark.parametrize("name", SETTINGS)
def test_each_knob_once_set_changes_the_steps(name):
    base, kwargs = variants.VARIANTS[name], SETTINGS[name][0]
    with ms.use_backend("numpy"), np.errstate(all="ignore"):
        want = _run(base(lr=LR, **kwargs))
        for knob in base.KNOBS:
            value = KNOB_VALUES[knob]
            if knob == "decay_at" and name in ("sam", "msam"):
                value = {"sam": "wp", "msam": "w"}[name]
            got = _run(variants.variant(base, **{knob: value})(lr=LR, **kwargs, check_finite=False))
            assert not _equal(got[0], want[0]), f"{name}: {knob}={value!r} changed nothing"


def test_an_unknown_knob_is_refused():
    with pytest.raises(ValueError, match="has no knob"):
        variants.variant(variants.MSAMVariant, nesterov=True)
