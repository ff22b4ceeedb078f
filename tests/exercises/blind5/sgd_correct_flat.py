"""Exercise 1 on one flat vector (all params concatenated)."""

import numpy as np


def _flatten(tree, keys):
    return np.concatenate([np.ravel(tree[k]) for k in keys])


def _unflatten(vec, like, keys):
    out, start = {}, 0
    for k in keys:
        n = like[k].size
        out[k] = vec[start : start + n].reshape(like[k].shape).copy()
        start += n
    return out


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    keys = sorted(w)
    x, buf = _flatten(w, keys), _flatten(v, keys)
    g = _flatten(grad_fn(w), keys)
    buf = momentum * buf + (g + weight_decay * x)
    x = x - lr * buf
    return _unflatten(x, w, keys), _unflatten(buf, w, keys)
