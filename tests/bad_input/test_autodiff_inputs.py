"""Bad inputs to ``ms.grad``, ``ms.value_and_grad`` and ``ms.hvp`` (issue 15), one row each."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms

from ._library_table import Row, check, params


def arr(values, dtype=np.float64):
    return ms.asarray(np.asarray(values, dtype=dtype))


def sq(p):
    """sum(a**2) + 3 sum(b**2): Hessian diag(2, 2, 6, 6), so H v is easy to state."""
    return (p["a"] * p["a"]).sum() + 3.0 * (p["b"] * p["b"]).sum()


def two():
    return {"a": arr([1.0, 2.0]), "b": arr([3.0, 4.0])}


def host(tree):
    return {k: ms.to_numpy(v) for k, v in tree.items()} if isinstance(tree, dict) else tree


def equals(expected):
    def check_result(result):
        result = host(result)
        for k, v in expected.items():
            np.testing.assert_allclose(result[k], v, rtol=1e-12)

    return check_result


GRAD_ROWS = [
    Row("grad: returns a tuple (forgotten has_aux)", lambda: ms.grad(lambda p: (sq(p), 1))(two()),
        ValueError, "pass has_aux=True"),
    Row("value_and_grad: returns a list", lambda: ms.value_and_grad(lambda p: [sq(p)])(two()),
        ValueError, "returned a list of length 1"),
    Row("grad: returns a string", lambda: ms.grad(lambda p: "loss")(two()),
        TypeError, "must return a real scalar"),
    Row("grad: returns None", lambda: ms.grad(lambda p: None)(two()),
        TypeError, "got NoneType"),
    Row("grad: returns a bool", lambda: ms.grad(lambda p: True)(two()),
        TypeError, "got bool"),
    Row("grad: returns a vector", lambda: ms.grad(lambda p: p["a"] * 2.0)(two()),
        ValueError, "array of shape (2,)"),
    Row("grad: has_aux=True but no pair", lambda: ms.grad(sq, has_aux=True)(two()),
        ValueError, "must return a pair (value, aux)"),
    Row("grad: integer parameter", lambda: ms.grad(lambda p: (p["w"] * p["w"]).sum())(
        {"w": arr([1, 2], np.int64)}), TypeError, "params['w'], which has dtype int64"),
    Row("grad: boolean parameter", lambda: ms.grad(lambda p: p[1].sum())(
        [arr([1.0]), arr([True], bool)]), TypeError, "params[1], which has dtype bool"),
    Row("grad: complex parameter", lambda: ms.grad(lambda p: p.sum())(arr([1j], complex)),
        TypeError, "cannot differentiate with respect to params, which has dtype complex128"),
    Row("grad: Python int parameter", lambda: ms.grad(lambda p: p["n"] * 2.0)({"n": 3}),
        TypeError, "params['n'], which has type int: gradients need floating parameters; "
        "pass a float, e.g. 3.0"),
    Row("grad: bare Python int", lambda: ms.grad(lambda x: x * x)(3),
        TypeError, "params, which has type int"),
    Row("grad: bare Python float (issue 25 regression)", lambda: ms.grad(lambda x: x * x)(3.0),
        expect=lambda g: float(ms.to_numpy(g)) == 6.0 or pytest.fail(repr(g))),
    Row("value_and_grad: Python float beside an array", lambda: ms.value_and_grad(
        lambda p: (p["s"] * p["w"]).sum())({"s": 2.0, "w": arr([1.0, 3.0])}),
        expect=lambda out: (float(ms.to_numpy(out[0])) == 8.0
                            and float(ms.to_numpy(out[1]["s"])) == 4.0) or pytest.fail(repr(out))),
    Row("hvp: Python float params and v", lambda: ms.hvp(lambda x: x * x * x)(2.0, 1.0),
        expect=lambda hv: float(ms.to_numpy(hv)) == 12.0 or pytest.fail(repr(hv))),
    Row("grad: Python float, the function returns a string", lambda: ms.grad(lambda x: "x")(3.0),
        TypeError, "must return a real scalar"),
    Row("grad: right result", lambda: ms.grad(sq)(two()),
        expect=equals({"a": [2.0, 4.0], "b": [18.0, 24.0]})),
    Row("grad: a constant gives zeros", lambda: ms.grad(lambda p: 3.0)(two()),
        expect=equals({"a": [0.0, 0.0], "b": [0.0, 0.0]})),
    Row("grad: has_aux=True with a pair", lambda: ms.grad(lambda p: (sq(p), "aux"), True)(two()),
        expect=equals({"a": [2.0, 4.0]})),
]  # fmt: skip


def third_derivative_by_backward(x0):
    """d^3/dx^3 of sum(x**4) = 24 x, by three Tensor.backward calls (create_graph twice)."""
    from minimsam.autodiff import Tensor

    x = Tensor(arr(x0), requires_grad=True)
    g = x
    for create_graph in (True, True, False):
        out = (g * g * g * g).sum() if g is x else g.sum()
        x.grad = None
        out.backward(create_graph=create_graph)
        g = x.grad
    return g


def quartic(x):
    return (x * x * x * x).sum()


NESTED_ROWS = [
    Row("grad of grad (nested transforms)", lambda: ms.grad(
        lambda x: ms.grad(quartic)(x).sum())(arr([1.0, 2.0])),
        TypeError, "params is a traced Tensor: a transform (grad, value_and_grad, hvp) was "
        "called inside another one"),
    Row("grad of hvp (a third derivative)", lambda: ms.grad(
        lambda x: ms.hvp(quartic)(x, arr([1.0, 1.0])).sum())(arr([1.0, 2.0])),
        TypeError, "use ms.hvp(f)(params, v) for second derivatives"),
    Row("grad of hvp, traced v", lambda: ms.grad(
        lambda x: ms.hvp(quartic)(arr([1.0, 1.0]), x).sum())(arr([1.0, 2.0])),
        TypeError, "hvp's v is a traced Tensor"),
    Row("third derivative by Tensor.backward", lambda: third_derivative_by_backward([1.0, 2.0]),
        expect=lambda g: np.testing.assert_allclose(ms.to_numpy(g), [24.0, 48.0])),
]  # fmt: skip

HVP_ROWS = [
    Row("hvp: v keys in another order", lambda: ms.hvp(sq)(two(), {"b": arr([1.0, 0.0]),
        "a": arr([0.0, 1.0])}), expect=equals({"a": [0.0, 2.0], "b": [6.0, 0.0]})),
    Row("hvp: v misses a key", lambda: ms.hvp(sq)(two(), {"a": arr([1.0, 0.0])}),
        ValueError, "missing keys ['b']"),
    Row("hvp: v has an extra key", lambda: ms.hvp(sq)(two(), {**two(), "c": arr([1.0])}),
        ValueError, "unexpected keys ['c']"),
    Row("hvp: v renames a key", lambda: ms.hvp(sq)(two(), {"a": arr([1.0, 0.0]),
        "B": arr([1.0, 0.0])}), ValueError, "missing keys ['b'], unexpected keys ['B']"),
    Row("hvp: v of a shape that broadcasts", lambda: ms.hvp(sq)(two(), {"a": arr([1.0]),
        "b": arr([1.0, 1.0])}),
        ValueError, "v['a'] has shape (1,), but params['a'] has shape (2,)"),
    Row("hvp: v transposed", lambda: ms.hvp(lambda p: (p["m"] * p["m"]).sum())(
        {"m": arr(np.ones((2, 3)))}, {"m": arr(np.ones((3, 2)))}),
        ValueError, "v['m'] has shape (3, 2)"),
    Row("hvp: v is a list for dict params", lambda: ms.hvp(sq)(two(), [arr([1.0, 0.0])] * 2),
        ValueError, "v must be a dict like params"),
    Row("hvp: list params, v too short", lambda: ms.hvp(lambda p: (p[0] * p[1]).sum())(
        [arr([1.0]), arr([2.0])], [arr([1.0])]), ValueError, "must be a sequence of 2"),
    Row("hvp: complex v", lambda: ms.hvp(sq)(two(), {"a": arr([1j, 0], complex),
        "b": arr([0.0, 0.0])}), TypeError, "v['a'] must be real numbers"),
    Row("hvp: function returns a tuple", lambda: ms.hvp(lambda p: (sq(p), 0))(two(), two()),
        ValueError, "pass has_aux=True"),
    Row("hvp: integer params", lambda: ms.hvp(lambda p: (p * p).sum())(arr([1, 2], np.int64),
        arr([1, 1], np.int64)), TypeError, "which has dtype int64"),
    Row("hvp: list params, right result", lambda: ms.hvp(lambda p: (p[0] * p[0] * p[1]).sum())(
        [arr([1.0]), arr([2.0])], [arr([1.0]), arr([0.0])]),
        expect=lambda r: np.testing.assert_allclose(
            [float(ms.to_numpy(x)[0]) for x in r], [4.0, 2.0])),
]  # fmt: skip


@pytest.mark.parametrize("row", params(GRAD_ROWS + NESTED_ROWS + HVP_ROWS))
def test_autodiff_input(backend, row):
    check(row)
