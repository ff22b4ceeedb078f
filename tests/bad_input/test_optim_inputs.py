"""Bad inputs to the optimizers (issue 15): each row gives a one-line error or a right result.

Rows run on every test backend (numpy, the strict fakegpu double, cupy with a GPU); arrays
are made inside each row's call, so on the active backend.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim
from minimsam.optim import schedules

from ._library_table import Row, check, params

# One instance of each optimizer, with settings under which every buffer is used.
MAKERS = {
    "SGD": lambda: optim.SGD(0.1, momentum=0.9, weight_decay=0.01),
    "NAG": lambda: optim.NAG(0.1, momentum=0.9, weight_decay=0.01),
    "SAM": lambda: optim.SAM(0.1, momentum=0.9, rho=0.05, weight_decay=0.01),
    "MSAM": lambda: optim.MSAM(0.1, momentum=0.9, rho=0.3, weight_decay=0.01),
    "MSAM-stored": lambda: optim.MSAM(0.1, rho=0.3, store_perturbed=True),
    "AdamW": lambda: optim.AdamW(0.01),
    "AdamWMSAM": lambda: optim.AdamWMSAM(0.01, rho=0.5),
}


def arr(values, dtype=np.float64):
    return ms.asarray(np.asarray(values, dtype=dtype))


def quadratic(point):
    """Loss sum_k sum(c_k * w_k**2) with gradients computed from the point itself, so a
    point of the wrong dtype gives gradients of the wrong dtype."""
    loss = sum(float(ms.to_numpy((w * w).sum())) for w in point.values())
    return loss, {k: 2.0 * w for k, w in point.items()}


def run(opt, params_, grad_fn=quadratic, steps=2, state=None):
    state = opt.init(params_) if state is None else state
    for _ in range(steps):
        params_, state, _ = opt.step(params_, state, grad_fn)
    return params_, state


def dtypes(tree):
    """{path: dtype name} of every array in params or state (scalars included)."""
    out = {}
    for k, v in tree.items():
        for name, x in v.items() if isinstance(v, dict) else [(None, v)]:
            if hasattr(x, "dtype"):
                out[k if name is None else f"{k}/{name}"] = str(x.dtype)
    return out


# ----------------------------------------------------------------------------- dtypes


def _f64_grads_for_f32(opt):
    p = {"w": arr([1.0, -2.0, 0.5], np.float32)}
    return run(opt, p, lambda q: (1.0, {"w": arr([0.3, 0.1, -0.2], np.float64)}))


def _all_float32(result):
    new_params, state = result
    assert set(dtypes(new_params).values()) == {"float32"}
    assert set(dtypes(state).values()) <= {"float32"}, dtypes(state)


def _mixed(opt_name):
    """Mixed float32/float64 params: dtypes kept, and every point grad_fn sees has them."""
    seen = []

    def grad_fn(point):
        seen.append({k: str(v.dtype) for k, v in point.items()})
        return quadratic(point)

    p = {"a": arr([1.0, -2.0], np.float32), "b": arr([0.5, 3.0, 1.0], np.float64)}
    mixed, state = run(MAKERS[opt_name](), p, grad_fn, steps=3)
    wide, _ = run(MAKERS[opt_name](), {k: arr(ms.to_numpy(v)) for k, v in p.items()}, steps=3)
    return mixed, state, seen, wide


def _mixed_ok(result):
    mixed, state, seen, wide = result
    assert dtypes(mixed) == {"a": "float32", "b": "float64"}
    for key, dtype in dtypes(state).items():
        assert dtype == ("float32" if key.endswith("/a") else "float64"), (key, dtype)
    assert all(s == {"a": "float32", "b": "float64"} for s in seen), seen
    for k in mixed:  # the same step as an all-float64 run, to float32 rounding
        np.testing.assert_allclose(ms.to_numpy(mixed[k]), ms.to_numpy(wide[k]), rtol=1e-5)


def _state_of_other_float(opt_name):
    """A float32 state (e.g. saved by a float32 run) with float64 params: cast, not promoted."""
    opt = MAKERS[opt_name]()
    p64 = {"w": arr([1.0, -2.0, 0.5])}
    _, state32 = run(opt, {"w": arr([1.0, -2.0, 0.5], np.float32)}, steps=1)
    return run(MAKERS[opt_name](), p64, steps=1, state=state32)


def _buffers_float64(result):
    new_params, state = result
    assert dtypes(new_params) == {"w": "float64"}
    assert all(d == "float64" for k, d in dtypes(state).items() if "/" in k), dtypes(state)


DTYPE_ROWS = [
    row
    for name, make in MAKERS.items()
    for row in (
        Row(f"{name}: float64 grads on float32 params", lambda m=make: _f64_grads_for_f32(m()),
            expect=_all_float32),
        Row(f"{name}: mixed float32/float64 params", lambda n=name: _mixed(n), expect=_mixed_ok),
        Row(f"{name}: float32 state with float64 params", lambda n=name: _state_of_other_float(n),
            expect=_buffers_float64),
        Row(f"{name}: complex grads", lambda m=make: run(
            m(), {"w": arr([1.0, 2.0])}, lambda q: (1.0, {"w": arr([1j, 2.0], complex)})),
            TypeError, "grads['w'] is complex"),
        Row(f"{name}: float16 params",
            lambda m=make: run(m(), {"w": arr([1e-3, 2e-3], np.float16)}),
            TypeError, "float16 is not supported"),
    )
]  # fmt: skip

# ----------------------------------------------------------------------------- params


PARAMS_ROWS = [
    Row("complex params", lambda: run(optim.SGD(0.1), {"w": arr([1.0, 2.0], complex)}),
        TypeError, "params['w'] is complex"),
    Row("integer params", lambda: run(optim.SGD(0.1), {"w": arr([1, 2], np.int64)}),
        TypeError, "params['w'] has dtype int64"),
    Row("boolean params", lambda: run(optim.MSAM(0.1), {"w": arr([True], bool)}),
        TypeError, "params['w'] has dtype bool"),
    Row("Python float as a param", lambda: run(optim.SGD(0.1), {"w": 1.5}),
        TypeError, "wrap it with ms.asarray"),
    Row("params not a dict", lambda: optim.SGD(0.1).init([arr([1.0])]),
        ValueError, "params must be a non-empty dict"),
    Row("NaN param given to step", lambda: optim.SGD(0.1).step(
        {"w": arr([math.nan, 1.0])}, {"step": 0}, quadratic),
        FloatingPointError, "params['w'] is not finite"),
]  # fmt: skip

# ----------------------------------------------------------------------------- grad_fn results

W = {"w": np.array([1.0, -1.0])}


def step_with(grad_fn, opt=None):
    opt = opt or optim.SGD(0.1)
    p = {"w": arr(W["w"])}
    return opt.step(p, opt.init(p), grad_fn)


def none_on_call(k):
    """A grad_fn that returns None on its k-th call and a right result otherwise."""
    calls = []

    def grad_fn(p):
        calls.append(1)
        return None if len(calls) == k else quadratic(p)

    return grad_fn


GRAD_FN_ROWS = [
    Row("grad_fn returns None", lambda: step_with(lambda p: None),
        TypeError, "grad_fn must return a pair (loss, grads), but call 1 returned a NoneType"),
    Row("grad_fn returns a bare dict", lambda: step_with(lambda p: {"w": 2 * p["w"]}),
        TypeError, "returned a dict"),
    Row("grad_fn returns a triple", lambda: step_with(lambda p: (1.0, {"w": p["w"]}, 0)),
        TypeError, "a tuple of length 3"),
    Row("loss is None", lambda: step_with(lambda p: (None, {"w": 2 * p["w"]})),
        TypeError, "returned the loss None"),
    Row("loss is a string", lambda: step_with(lambda p: ("0.5", {"w": 2 * p["w"]})),
        TypeError, "returned the loss '0.5'"),
    Row("loss is a vector", lambda: step_with(lambda p: (p["w"] * p["w"], {"w": 2 * p["w"]})),
        TypeError, "an array of shape (2,)"),
    Row("loss is complex", lambda: step_with(lambda p: (1j, {"w": 2 * p["w"]})),
        TypeError, "must be a real scalar"),
    Row("SAM's second call returns None", lambda: step_with(none_on_call(2), optim.SAM(0.1)),
        TypeError, "call 2 returned a NoneType"),
    Row("grads miss a key", lambda: step_with(lambda p: (1.0, {})),
        ValueError, "missing keys ['w']"),
    Row("integer grads are cast", lambda: step_with(lambda p: (1, {"w": arr([1, 1], np.int64)})),
        expect=lambda out: np.testing.assert_allclose(ms.to_numpy(out[0]["w"]), [0.9, -1.1])),
    Row("0-d array loss is accepted", lambda: step_with(lambda p: ((p["w"] * p["w"]).sum(),
        {"w": 2 * p["w"]})), expect=lambda out: out[2].grad_evals == 1),
]  # fmt: skip

# ------------------------------------------------------------------ state and hyperparameters


def msam_stored_state(**edits):
    opt = optim.MSAM(0.1, store_perturbed=True)
    p = {"w": arr(W["w"])}
    state = {**opt.init(p), **edits}
    return opt, p, state


def step_on(opt_state):
    opt, p, state = opt_state
    return opt.step(p, state, quadratic)


def after_one_step(opt, **edits):
    """A state returned by a step (trusted), then edited by replacing entries."""
    p = {"w": arr(W["w"])}
    p, state, _ = opt.step(p, opt.init(p), quadratic)
    state.update(edits)
    return opt, p, state


STATE_ROWS = [
    Row("state without 'step'", lambda: optim.SGD(0.1).step({"w": arr(W["w"])}, {}, quadratic),
        ValueError, "state has no 'step' entry"),
    Row("state is None", lambda: optim.SGD(0.1).step({"w": arr(W["w"])}, None, quadratic),
        ValueError, "state must be the dict made by opt.init(params)"),
    Row("AdamW at step -1", lambda: step_on((optim.AdamW(), {"w": arr(W["w"])},
        {**optim.AdamW().init({"w": arr(W["w"])}), "step": -1})),
        ValueError, "state['step'] must be a non-negative int"),
    Row("step count 1.5", lambda: step_on((optim.SGD(0.1), {"w": arr(W["w"])}, {"step": 1.5})),
        ValueError, "state['step'] must be a non-negative int"),
    Row("MSAM stored: NaN scale", lambda: step_on(msam_stored_state(scale=arr(math.nan))),
        FloatingPointError, "state['scale'] is not finite"),
    Row("MSAM stored: NaN scale set after a step", lambda: step_on(
        after_one_step(optim.MSAM(0.1, store_perturbed=True), scale=arr(math.nan))),
        FloatingPointError, "state['scale'] is not finite"),
    Row("MSAM stored: scale of the wrong shape", lambda: step_on(msam_stored_state(
        scale=arr([0.1, 0.2]))), ValueError, "state['scale'] must be a 0-d float array"),
    Row("MSAM stored: no scale", lambda: step_on((optim.MSAM(0.1, store_perturbed=True),
        {"w": arr(W["w"])}, optim.MSAM(0.1).init({"w": arr(W["w"])}))),
        ValueError, "MSAM keeps ['momentum', 'scale']"),
    Row("NaN momentum", lambda: step_on((optim.SGD(0.1, momentum=0.9), {"w": arr(W["w"])},
        {"step": 3, "momentum": {"w": arr([math.nan, 0.0])}})),
        FloatingPointError, "state['momentum']['w'] is not finite"),
    Row("SGD state given to AdamW", lambda: step_on((optim.AdamW(), {"w": arr(W["w"])},
        optim.SGD(0.1, momentum=0.9).init({"w": arr(W["w"])}))),
        ValueError, "AdamW keeps ['m', 's']"),
    Row("momentum of the wrong shape", lambda: step_on((optim.NAG(0.1), {"w": arr(W["w"])},
        {"step": 0, "momentum": {"w": arr([0.0])}})),
        ValueError, "state['momentum']['w'] has shape (1,)"),
    Row("complex momentum", lambda: step_on((optim.NAG(0.1), {"w": arr(W["w"])},
        {"step": 0, "momentum": {"w": arr([0.0, 0.0], complex)}})),
        TypeError, "state['momentum']['w'] is complex"),
    Row("SGD(lr=10**400)", lambda: optim.SGD(lr=10**400), ValueError, "lr must be finite"),
    Row("SAM(rho=10**400)", lambda: optim.SAM(0.1, rho=10**400), ValueError, "rho must be finite"),
    Row("AdamW(eps=-10**400)", lambda: optim.AdamW(eps=-(10**400)), ValueError, "eps"),
]  # fmt: skip


# ----------------------------------------------------------------------------- schedules (issue 25)


def step_sgd(lr, steps=3):
    return run(optim.SGD(lr), {"w": arr(W["w"])}, steps=steps)


def _all_float64(result):
    new_params, state = result
    assert dtypes(new_params) == {"w": "float64"} and state["step"] == 3


SCHEDULE_ROWS = [
    Row("step_decay: gamma**4 overflows", lambda: schedules.step_decay(0.1, [1, 2, 3, 4], 1e100),
        ValueError, "step_decay reaches value * gamma**4 = 0.1 * 1e+100**4 after its 4 "
        "milestones, which overflows a float: lower gamma"),
    Row("step_decay: gamma**2 overflows to inf", lambda: schedules.step_decay(2.0, [1, 2], 1e154),
        ValueError, "overflows a float"),
    Row("step_decay: a huge gamma that stays finite", lambda: step_sgd(
        schedules.step_decay(1e-300, [1, 2], 1e100)), expect=_all_float64),
    Row("schedule that overflows inside SGD.step", lambda: step_sgd(lambda t: 10.0 ** (400 - t)),
        ValueError, "lr (schedule value at step 0) could not be computed"),
    Row("schedule without the step argument", lambda: optim.SGD(lr=lambda: 0.1),
        ValueError, "lr is a function with the signature (), but a schedule is called as lr(t)"),
    Row("rho schedule of two arguments", lambda: optim.MSAM(0.1, rho=lambda t, epoch: 0.3),
        ValueError, "rho is a function with the signature (t, epoch)"),
    Row("schedule with a default for t", lambda: step_sgd(lambda t=0: 0.1),
        expect=_all_float64),
]  # fmt: skip


# ----------------------------------------------------------------- eval_params reads a state too

# A maker whose state has another form than each optimizer's (issue 25).
OTHER_FORM = {"SGD": "AdamW", "NAG": "AdamW", "SAM": "AdamWMSAM", "MSAM": "MSAM-stored",
              "MSAM-stored": "MSAM", "AdamW": "SGD", "AdamWMSAM": "MSAM"}  # fmt: skip


def eval_with(name, state_of=None, params_=None, **edits):
    """``eval_params`` of optimizer ``name`` with the init state of ``state_of`` (edited)."""
    p = {"w": arr(W["w"])}
    state = {**MAKERS[state_of or name]().init(params_ or p), **edits}
    return MAKERS[name]().eval_params(p, state)


def _the_params(w):
    np.testing.assert_array_equal(ms.to_numpy(w["w"]), W["w"])


EVAL_ROWS = [
    row
    for name in MAKERS
    for row in (
        Row(f"{name}.eval_params: state of {OTHER_FORM[name]}",
            lambda n=name: eval_with(n, OTHER_FORM[n]), ValueError, "keeps"),
        Row(f"{name}.eval_params: state for other params", lambda n=name: eval_with(
            n, params_={"v": arr([0.0, 0.0])}), ValueError, "does not match the params"),
        Row(f"{name}.eval_params: state step -1", lambda n=name: eval_with(n, step=-1),
            ValueError, "state['step'] must be a non-negative int"),
        Row(f"{name}.eval_params: its own init state", lambda n=name: eval_with(n),
            expect=_the_params),
    )
] + [
    Row("MSAM.eval_params: a store_perturbed=True state says so",
        lambda: eval_with("MSAM", "MSAM-stored"), ValueError,
        "only MSAM(store_perturbed=True) keeps 'scale'"),
    Row("MSAM.eval_params: params not a dict", lambda: optim.MSAM(0.1).eval_params(
        [arr(W["w"])], {"step": 0}), ValueError, "params must be a non-empty dict"),
    Row("MSAM-stored.eval_params: float32 params, no scale", lambda: MAKERS["MSAM-stored"]()
        .eval_params({"w": arr(W["w"], np.float32)}, {"step": 1, "momentum": {
            "w": arr([1.0, 1.0], np.float32)}}), ValueError, "MSAM keeps ['momentum', 'scale']"),
]  # fmt: skip


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "row", params(DTYPE_ROWS + PARAMS_ROWS + GRAD_FN_ROWS + STATE_ROWS + SCHEDULE_ROWS + EVAL_ROWS)
)
def test_optimizer_input(backend, row):
    check(row)


# ----------------------------------------------------------------------------- checked once


def test_a_step_checks_its_own_output_only_once(monkeypatch):
    """The full params/state check runs when the inputs are new, not on every step."""
    from minimsam.optim import validation

    calls = []
    real = validation.check_params
    monkeypatch.setattr(validation, "check_params", lambda p: calls.append(1) or real(p))
    opt = optim.MSAM(0.1, store_perturbed=True)
    p = {"w": arr(W["w"])}
    state = opt.init(p)
    calls.clear()
    p, state = run(opt, p, steps=5, state=state)
    assert len(calls) == 1  # the first step, whose state came from init
    run(opt, {"w": p["w"] + 0.0}, steps=1, state=state)  # new params: checked again
    assert len(calls) == 2


def test_new_inputs_are_checked_in_the_one_host_sync_of_the_step(monkeypatch):
    """A state from init (not trusted yet) adds no host transfer: its finiteness is checked
    together with the losses and gradients."""
    from minimsam.testing import fake_gpu

    syncs = []
    real = fake_gpu.StrictArray.get
    monkeypatch.setattr(fake_gpu.StrictArray, "get", lambda a: syncs.append(1) or real(a))
    with ms.use_backend("fakegpu"):
        opt = optim.AdamW()
        p = {"a": arr([1.0]), "b": arr([2.0, 3.0])}
        state = opt.init(p)
        grads = {"a": arr([0.1]), "b": arr([0.2, 0.3])}
        loss = ms.asarray(np.float64(1.0))
        syncs.clear()
        opt.step(p, state, lambda q: (loss, grads))
        assert len(syncs) == 1
        with pytest.raises(FloatingPointError, match=r"state\['m'\]\['b'\] is not finite"):
            opt.step(p, {**state, "m": {**state["m"], "b": arr([0.0, math.inf])}},
                     lambda q: (loss, grads))  # fmt: skip
