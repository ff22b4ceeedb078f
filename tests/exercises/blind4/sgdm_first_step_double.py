import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    d = {k: g[k] + weight_decay * w[k] for k in w}
    if all(not np.any(v[k]) for k in v):  # first step: buffer = gradient
        v = {k: d[k].copy() for k in d}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
