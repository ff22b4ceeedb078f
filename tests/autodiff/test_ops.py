"""Every op, table-driven: values and gradients against HIPS autograd, gradients and
second derivatives against finite differences, on every backend under test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.scipy.special import logsumexp as a_logsumexp

import minimsam as ms
from minimsam import autodiff as ad

from . import reference as ref


@dataclass
class OpCase:
    name: str
    ours: Callable
    theirs: Callable
    shapes: list[tuple[int, ...]]
    domain: str = "real"  # "real", "positive", or "away_from_zero"
    second_order: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def _sample(rng, shape, domain):
    x = rng.standard_normal(shape)
    if domain == "positive":
        return np.abs(x) + 0.5
    if domain == "away_from_zero":
        return np.sign(x) * (np.abs(x) + 0.5)
    return x


SCALAR, VECTOR, MATRIX = (), (4,), (3, 4)
UNARY_SHAPES = [[SCALAR], [VECTOR], [MATRIX]]
BINARY_SHAPES = [[SCALAR, SCALAR], [VECTOR, VECTOR], [MATRIX, MATRIX],
                 [(3, 1), VECTOR], [MATRIX, SCALAR], [(2, 1, 4), (3, 1)]]  # fmt: skip


def unary(name, ours, theirs, domain="real", shapes=UNARY_SHAPES, second_order=True):
    return [OpCase(f"{name}-{s}", ours, theirs, s, domain, second_order) for s in shapes]


def binary(name, ours, theirs, domain="real", shapes=BINARY_SHAPES):
    return [OpCase(f"{name}-{s}", ours, theirs, s, domain) for s in shapes]


def _bn_train(x, weight, bias):
    """Training-mode batch norm: normalised by the batch's own statistics, so the
    gradient flows through the mean and variance too."""
    mean, var = ad.batch_stats(x)
    return ad.batch_norm(x, mean, var, weight, bias)


OPS: list[OpCase] = [
    *binary("add", ad.add, anp.add),
    *binary("sub", ad.sub, anp.subtract),
    *binary("mul", ad.mul, anp.multiply),
    *binary("div", ad.div, anp.divide, domain="away_from_zero"),
    *binary("power", ad.power, anp.power, domain="positive"),
    *binary("maximum", ad.maximum, anp.maximum),
    *unary("neg", ad.neg, anp.negative),
    *unary("exp", ad.exp, anp.exp),
    *unary("log", ad.log, anp.log, domain="positive"),
    *unary("tanh", ad.tanh, anp.tanh),
    *unary("sigmoid", ad.sigmoid, lambda x: 1 / (1 + anp.exp(-x))),
    *unary("relu", ad.relu, lambda x: anp.maximum(x, 0.0), domain="away_from_zero"),
    *unary("cube", lambda x: x**3, lambda x: x**3),
    *unary("sqrt", lambda x: x**0.5, anp.sqrt, domain="positive"),
    *unary("rsub-rdiv", lambda x: 2.0 - 3.0 / x, lambda x: 2.0 - 3.0 / x, "away_from_zero"),
    *unary("sum-all", ad.sum, anp.sum),
    *unary("mean-all", ad.mean, anp.mean),
    *unary("max-all", ad.max, anp.max),
    OpCase("sum-axis0", lambda x: ad.sum(x, 0), lambda x: anp.sum(x, 0), [MATRIX]),
    OpCase(
        "sum-keepdims",
        lambda x: x.sum(-1, keepdims=True),
        lambda x: anp.sum(x, -1, keepdims=True),
        [(2, 3, 4)],
    ),  # fmt: skip
    OpCase("mean-axes", lambda x: ad.mean(x, (0, 2)), lambda x: anp.mean(x, (0, 2)), [(2, 3, 4)]),
    OpCase("max-axis1", lambda x: ad.max(x, 1), lambda x: anp.max(x, 1), [MATRIX]),
    OpCase(
        "max-keepdims",
        lambda x: ad.max(x, 0, keepdims=True),
        lambda x: anp.max(x, 0, keepdims=True),
        [MATRIX],
    ),  # fmt: skip
    OpCase("logsumexp", lambda x: ad.logsumexp(x, 1), lambda x: a_logsumexp(x, 1), [MATRIX]),
    OpCase("logsumexp-all", ad.logsumexp, a_logsumexp, [VECTOR]),
    OpCase("log_softmax", ad.log_softmax, ref.log_softmax, [MATRIX]),
    OpCase(
        "log_softmax-axis0",
        lambda x: ad.log_softmax(x, 0),
        lambda x: ref.log_softmax(x, 0),
        [MATRIX],
    ),  # fmt: skip
    OpCase("reshape", lambda x: ad.reshape(x, (4, 3)), lambda x: anp.reshape(x, (4, 3)), [MATRIX]),
    OpCase("transpose", ad.transpose, anp.transpose, [(2, 3, 4)]),
    OpCase(
        "transpose-axes",
        lambda x: x.transpose(1, 2, 0),
        lambda x: anp.transpose(x, (1, 2, 0)),
        [(2, 3, 4)],
    ),  # fmt: skip
    OpCase(
        "broadcast_to",
        lambda x: ad.broadcast_to(x, (2, 3, 4)),
        lambda x: x + anp.zeros((2, 3, 4)),
        [(3, 1)],
    ),  # fmt: skip
    OpCase("getitem-slice", lambda x: x[1:, ::2], lambda x: x[1:, ::2], [MATRIX]),
    OpCase(
        "getitem-int-array",
        lambda x: x[np.array([2, 0, 2, 1])],
        lambda x: x[np.array([2, 0, 2, 1])],
        [MATRIX],
    ),  # fmt: skip
    OpCase(
        "getitem-pairs",
        lambda x: x[np.array([0, 1, 2]), np.array([3, 3, 0])],
        lambda x: x[np.array([0, 1, 2]), np.array([3, 3, 0])],
        [MATRIX],
    ),  # fmt: skip
    OpCase(
        "concatenate",
        lambda a, b: ad.concatenate([a, b], axis=1),
        lambda a, b: anp.concatenate([a, b], axis=1),
        [(3, 2), (3, 4)],
    ),  # fmt: skip
    OpCase("matmul-mm", ad.matmul, anp.matmul, [(3, 4), (4, 2)]),
    OpCase("matmul-vm", ad.matmul, anp.matmul, [(4,), (4, 2)]),
    OpCase("matmul-mv", ad.matmul, anp.matmul, [(3, 4), (4,)]),
    OpCase("matmul-vv", ad.matmul, anp.matmul, [(4,), (4,)]),
    OpCase("matmul-batched", ad.matmul, anp.matmul, [(2, 3, 4), (4, 2)]),
    OpCase("matmul-broadcast-batch", ad.matmul, anp.matmul, [(2, 1, 3, 4), (3, 4, 2)]),
    OpCase(
        "conv2d", lambda x, w, b: ad.conv2d(x, w, b), ref.conv2d, [(2, 2, 5, 5), (3, 2, 3, 3), (3,)]
    ),  # fmt: skip
    OpCase(
        "conv2d-stride-pad",
        lambda x, w: ad.conv2d(x, w, stride=2, padding=1),
        lambda x, w: ref.conv2d(x, w, stride=2, padding=1),
        [(1, 2, 5, 4), (2, 2, 3, 3)],
    ),
    OpCase("max_pool2d", ad.max_pool2d, ref.max_pool2d, [(2, 2, 4, 6)]),
    *[
        OpCase(f"batch_norm-train-{shape}", _bn_train, ref.batch_norm_train, [shape, (3,), (3,)])
        for shape in [(5, 3), (2, 3, 4), (2, 3, 2, 3)]
    ],
    OpCase(
        "batch_norm-eval",
        lambda x, m, v, w, b: ad.batch_norm(x, m, v, w, b),
        ref.batch_norm_eval,
        [(2, 3, 2, 2), (3,), (3,), (3,), (3,)],
        domain="positive",  # the variance argument must be positive
    ),
]


def _inputs(case: OpCase, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [_sample(rng, shape, case.domain) for shape in case.shapes]


@pytest.mark.parametrize("case", OPS, ids=lambda c: c.name)
def test_value_matches_autograd(case, backend):
    host = _inputs(case)
    ours = ms.to_numpy(case.ours(*[ms.asarray(x) for x in host]))
    np.testing.assert_allclose(ours, case.theirs(*host), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", OPS, ids=lambda c: c.name)
def test_gradient_matches_autograd(case, backend):
    host = _inputs(case)
    u = np.random.default_rng(1).standard_normal(np.shape(case.theirs(*host)))
    for i in range(len(host)):

        def theirs(xi, i=i):
            args = list(host)
            args[i] = xi
            return anp.sum(case.theirs(*args) * u)

        def ours(xi, i=i):
            args = [ms.asarray(x) for x in host]
            args[i] = xi
            return ad.sum(ad.mul(case.ours(*args), ms.asarray(u)))

        expected = autograd.grad(theirs)(host[i])
        got = ms.to_numpy(ms.grad(ours)(ms.asarray(host[i])))
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=f"input {i}")


@pytest.mark.parametrize("case", OPS, ids=lambda c: c.name)
def test_gradient_and_second_derivative_match_finite_differences(case, backend):
    ms.check_grads(case.ours, _inputs(case, seed=2), order=2 if case.second_order else 1)


def test_every_public_op_is_in_the_table():
    tested = " ".join(c.name for c in OPS)
    ops = ["add", "sub", "mul", "div", "power", "maximum", "neg", "exp", "log", "tanh",
           "sigmoid", "relu", "sum", "mean", "max", "logsumexp", "log_softmax", "reshape",
           "transpose", "broadcast_to", "getitem", "concatenate", "matmul", "conv2d",
           "max_pool2d", "batch_norm"]  # fmt: skip
    assert [op for op in ops if op not in tested] == []
