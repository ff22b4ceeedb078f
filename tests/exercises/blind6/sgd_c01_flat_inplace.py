import numpy as np


def _flatten(tree, keys):
    return np.concatenate([np.ravel(tree[k]) for k in keys])


def _unflatten(flat, like, keys):
    out, start = {}, 0
    for k in keys:
        n = like[k].size
        out[k] = flat[start : start + n].reshape(like[k].shape).copy()
        start += n
    return out


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    keys = sorted(w)
    x = _flatten(w, keys)
    buf = _flatten(v, keys)
    g = _flatten(grad_fn(w), keys)
    g += weight_decay * x  # d = g + lambda w, in place
    buf *= momentum
    buf += g  # v <- mu v + d
    x -= lr * buf  # w <- w - lr v
    return _unflatten(x, w, keys), _unflatten(buf, w, keys)
