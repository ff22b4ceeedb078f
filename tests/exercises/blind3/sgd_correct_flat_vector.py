"""A student's answer."""

import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    keys = sorted(w)

    def flat(tree):
        return np.concatenate([np.ravel(tree[k]) for k in keys])

    x, buf = flat(w), flat(v)
    gx = flat(grad_fn(w))
    buf = momentum * buf + (gx + weight_decay * x)
    x = x - lr * buf
    out_w, out_v, i = {}, {}, 0
    for k in keys:
        n = np.size(w[k])
        out_w[k] = x[i : i + n].reshape(np.shape(w[k]))
        out_v[k] = buf[i : i + n].reshape(np.shape(w[k]))
        i += n
    return out_w, out_v
