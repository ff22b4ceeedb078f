"""A student's answer."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    c = rho / np.sqrt(sum(np.sum(v[k] ** 2) for k in v) + EPS)
    wp = {k: w[k] - c * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
