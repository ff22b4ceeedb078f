"""The gradient checker must reject wrong backward passes (autograd's test_tests idea)."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam.autodiff import Function, GradientCheckError, check_grads


class WrongExp(Function):
    """exp with the derivative of x**2/2 instead: an obviously wrong backward."""

    def forward(self, x):
        return ms.get_backend().xp.exp(x)

    def backward(self, gy, xs, y):
        return (gy * xs[0],)


class ReverseWithoutReversingGradient(Function):
    """y = x[::-1], but the backward forgets to reverse gy: a permutation bug that an
    all-ones cotangent cannot see, because reversing a vector of ones changes nothing."""

    def forward(self, x):
        return x[::-1]

    def backward(self, gy, xs, y):
        return (gy,)


def test_rejects_a_wrong_derivative(backend):
    with pytest.raises(GradientCheckError, match="argument 0"):
        check_grads(lambda x: WrongExp()(x), [np.linspace(-1, 1, 5)])


def test_rejects_a_permutation_bug_that_an_all_ones_cotangent_misses(backend):
    x = np.linspace(-1, 1, 5)
    with pytest.raises(GradientCheckError):
        check_grads(lambda x: ReverseWithoutReversingGradient()(x), [x])
    # The same bug is invisible to an all-ones cotangent: the VJP with ones is correct.
    g = ms.grad(lambda x: ReverseWithoutReversingGradient()(x).sum())(ms.asarray(x))
    np.testing.assert_array_equal(ms.to_numpy(g), np.ones(5))


def test_rejects_a_correct_first_but_wrong_second_derivative(backend):
    class ExpWithConstantDerivative(Function):
        """Right first derivative, but written with the raw output so it is a constant
        for double backward: the second derivative comes out as 0 instead of exp(x)."""

        def forward(self, x):
            return ms.get_backend().xp.exp(x)

        def backward(self, gy, xs, y):
            raw_y = y.data if isinstance(y, ms.Tensor) else y
            return (gy * raw_y,)

    f = lambda x: ExpWithConstantDerivative()(x)  # noqa: E731
    x = np.linspace(-1, 1, 4)
    check_grads(f, [x], order=1)
    with pytest.raises(GradientCheckError):
        check_grads(f, [x], order=2)


def test_failure_message_names_the_entry_and_both_values():
    with pytest.raises(GradientCheckError) as err:
        check_grads(lambda x: WrongExp()(x), [np.array([0.0, 2.0])])
    message = str(err.value)
    assert "index" in message and "finite differences give" in message
