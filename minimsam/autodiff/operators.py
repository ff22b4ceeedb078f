"""Python operators and array-style methods on :class:`Tensor`.

``a + b``, ``a @ b``, ``x[idx]``, ``x.sum(axis)``, ``x.T`` ... all dispatch to the ops,
so model code reads like NumPy code and works on tensors and plain arrays alike.
"""

from __future__ import annotations

from minimsam.autodiff import elementwise as E
from minimsam.autodiff import nn_ops as N
from minimsam.autodiff import reductions as R
from minimsam.autodiff import shapes as S
from minimsam.autodiff.tensor import Tensor


def _flip(op):
    return lambda self, other: op(other, self)


def _shape_args(args):
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def install() -> None:
    """Attach the operators to :class:`Tensor` (called once on import)."""
    T = Tensor
    T.__add__, T.__radd__ = E.add, _flip(E.add)
    T.__sub__, T.__rsub__ = E.sub, _flip(E.sub)
    T.__mul__, T.__rmul__ = E.mul, _flip(E.mul)
    T.__truediv__, T.__rtruediv__ = E.div, _flip(E.div)
    T.__pow__, T.__rpow__ = E.power, _flip(E.power)
    T.__matmul__, T.__rmatmul__ = R.matmul, _flip(R.matmul)
    T.__neg__ = E.neg
    T.__getitem__ = S.getitem
    T.reshape = lambda self, *shape: S.reshape(self, _shape_args(shape))
    T.transpose = lambda self, *axes: S.transpose(self, _shape_args(axes) or None)
    T.T = property(lambda self: S.transpose(self))
    T.sum = lambda self, axis=None, keepdims=False: R.sum(self, axis, keepdims)
    T.mean = lambda self, axis=None, keepdims=False: R.mean(self, axis, keepdims)
    T.max = lambda self, axis=None, keepdims=False: R.max(self, axis, keepdims)
    T.exp, T.log, T.tanh = E.exp, E.log, E.tanh
    T.sigmoid, T.relu = E.sigmoid, E.relu
    T.log_softmax = lambda self, axis=-1: N.log_softmax(self, axis)
