"""Inputs that a flat parameter buffer could get wrong (issue 26): each gives a correct step.

On a device backend (fakegpu here, cupy on a GPU) a step copies params, state buffers and
gradients into one flat buffer per dtype, or reuses the buffers behind the dicts its last
step returned; on numpy it works on the dicts. Params that share memory,
non-contiguous arrays, gradients or state that alias the params, and mixed float32 /
float64 params must each give exactly the step of independent contiguous copies, leave
every input as it was, and keep each param's dtype and shape.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam import optim

from ._library_table import Row, check, params

MAKERS = {
    "SGD": lambda: optim.SGD(0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
    "NAG": lambda: optim.NAG(0.1, momentum=0.9, weight_decay=0.01),
    "SAM": lambda: optim.SAM(0.1, momentum=0.9, rho=0.05, weight_decay=0.01),
    "MSAM": lambda: optim.MSAM(0.1, momentum=0.9, rho=0.3, weight_decay=0.01),
    "MSAM-stored": lambda: optim.MSAM(0.1, rho=0.3, store_perturbed=True),
    "AdamW": lambda: optim.AdamW(0.01),
    "AdamWMSAM": lambda: optim.AdamWMSAM(0.01, rho=0.5),
}
HOST = np.random.default_rng(0).standard_normal((4, 6))


def cubic(point):
    """Loss ``sum(w**4 / 4 + w)`` with gradient ``w**3 + 1``, computed from the point."""
    loss = sum(float(ms.to_numpy((w**4 / 4 + w).sum())) for w in point.values())
    return loss, {k: w**3 + 1.0 for k, w in point.items()}


def copies(tree):
    """Independent contiguous device copies of a dict of arrays."""
    return {k: ms.asarray(np.ascontiguousarray(ms.to_numpy(v))) for k, v in tree.items()}


def host(tree):
    return {k: ms.to_numpy(v).copy() for k, v in tree.items()}


def run(opt, p, grad_fn=cubic, steps=3, state=None):
    state = opt.init(p) if state is None else state
    for _ in range(steps):
        p, state, _ = opt.step(p, state, grad_fn)
    return p, state


def same_step_as_copies(make_params, grad_fn=cubic, state_of=None):
    """Every optimizer: the params from ``make_params()`` step exactly as independent
    contiguous copies of them do, the inputs are untouched, dtypes and shapes kept."""

    def call():
        results = {}
        for name, make in MAKERS.items():
            p = make_params()
            before = host(p)
            opt = make()
            state = opt.init(p) if state_of is None else state_of(opt, p)
            reference_state = {k: copies(v) if isinstance(v, dict) else v for k, v in state.items()}
            got, _ = run(opt, p, grad_fn, state=state)
            want, _ = run(make(), copies(p), cubic, state=reference_state)
            results[name] = (p, before, got, want)
        return results

    return call


def _expect_same(results):
    for name, (p, before, got, want) in results.items():
        for k in p:
            np.testing.assert_array_equal(ms.to_numpy(p[k]), before[k], err_msg=f"{name}: {k}")
            assert got[k].dtype == p[k].dtype and got[k].shape == p[k].shape, (name, k)
            np.testing.assert_array_equal(
                ms.to_numpy(got[k]), ms.to_numpy(want[k]), err_msg=f"{name}: {k}"
            )


def _tied():
    x = ms.asarray(HOST[0])
    return {"a": x, "b": x}  # one array under two names


def _overlapping():
    base = ms.asarray(HOST.reshape(-1))
    return {"a": base[:10], "b": base[5:15]}


def _transposed():
    return {"w": ms.asarray(HOST).T, "b": ms.asarray(HOST[0])}


def _strided():
    return {"w": ms.asarray(HOST)[:, ::2], "b": ms.asarray(HOST[1])[::3]}


def _mixed_dtypes():
    return {
        "w": ms.asarray(HOST.astype(np.float32)),
        "b": ms.asarray(HOST[0]),
        "c": ms.asarray(HOST[1, :3].astype(np.float32)),
    }


def _zero_d():
    return {"s": ms.asarray(np.float64(0.7)), "w": ms.asarray(HOST[2])}


def _grads_are_the_point(point):
    """grad_fn handing back arrays that are the point itself (the gradient of w**2 / 2)."""
    return 0.0, dict(point)


def _half_square(point):
    return 0.0, {k: 1.0 * w for k, w in point.items()}


def _non_contiguous_grads(point):
    loss, grads = cubic(point)
    xp = ms.get_backend().xp
    return loss, {k: xp.asfortranarray(g) if g.ndim == 2 else g for k, g in grads.items()}


def _positive():
    return {"w": ms.asarray(np.abs(HOST)).T, "b": ms.asarray(np.abs(HOST[0]))}


def _state_aliasing_params(opt, p):
    """A state whose params-sized buffers are the params themselves (positive values, so
    that they are a valid Adam second moment too)."""
    state = opt.init(p)
    return {k: dict(p) if isinstance(v, dict) else v for k, v in state.items()}


def _returned_arrays_changed_in_place():
    """A step's returned params are views of one buffer; changing one in place before
    the next step is that step's input, exactly as for a fresh copy of the values."""
    out = {}
    for name, make in MAKERS.items():
        opt = make()
        p, state = run(opt, {"w": ms.asarray(HOST), "b": ms.asarray(HOST[0])}, steps=2)
        p["w"][0, 0] = 5.0  # in place, on the returned array
        kept = host(p)
        got, _ = opt.step(p, state, cubic)[:2]
        ref = make()
        ref_state = {k: copies(v) if isinstance(v, dict) else v for k, v in state.items()}
        want, _ = ref.step(copies(p), ref_state, cubic)[:2]
        out[name] = (p, kept, got, want)
    return out


def _old_outputs_kept():
    """Purity across steps: the dicts a step returned are unchanged by later steps."""
    out = {}
    for name, make in MAKERS.items():
        opt = make()
        p1, s1 = run(opt, {"w": ms.asarray(HOST)}, steps=1)
        kept = host(p1)
        run(opt, p1, steps=3, state=s1)
        out[name] = (p1, kept, p1, {k: ms.asarray(v) for k, v in kept.items()})
    return out


ROWS = [
    Row("tied-params", same_step_as_copies(_tied), expect=_expect_same),
    Row("overlapping-params", same_step_as_copies(_overlapping), expect=_expect_same),
    Row("transposed-param", same_step_as_copies(_transposed), expect=_expect_same),
    Row("strided-params", same_step_as_copies(_strided), expect=_expect_same),
    Row("mixed-float32-float64", same_step_as_copies(_mixed_dtypes), expect=_expect_same),
    Row("zero-d-param", same_step_as_copies(_zero_d), expect=_expect_same),
    Row("fortran-order-grads",
        same_step_as_copies(_transposed, grad_fn=_non_contiguous_grads), expect=_expect_same),
    Row("state-aliasing-params",
        same_step_as_copies(_positive, state_of=_state_aliasing_params), expect=_expect_same),
    Row("returned-param-changed-in-place", _returned_arrays_changed_in_place,
        expect=_expect_same),
    Row("old-outputs-unchanged", _old_outputs_kept, expect=_expect_same),
]  # fmt: skip


@pytest.mark.parametrize("row", params(ROWS))
def test_multitensor_input(backend, row):
    check(row)


@pytest.mark.parametrize("name", list(MAKERS))
def test_grads_aliasing_the_point_leave_the_params_alone(backend, name):
    """grad_fn returning the very arrays it was handed: the step equals one with copies."""
    p = _transposed()
    before = host(p)
    got, _ = run(MAKERS[name](), p, _grads_are_the_point)
    want, _ = run(MAKERS[name](), copies(p), _half_square)
    for k in p:
        np.testing.assert_array_equal(ms.to_numpy(p[k]), before[k])
        np.testing.assert_array_equal(ms.to_numpy(got[k]), ms.to_numpy(want[k]))
