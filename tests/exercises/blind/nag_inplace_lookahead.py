"""Nesterov momentum: shift the weights to the look-ahead point in place."""

import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    w = {k: np.copy(x) for k, x in w.items()}
    for k in w:
        w[k] -= lr * momentum * v[k]  # look-ahead
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
