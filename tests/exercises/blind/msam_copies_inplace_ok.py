"""Momentum-SAM, in place on copies of the inputs."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    norm = np.sqrt(sum(float(np.sum(np.square(x))) for x in v.values()))
    c = rho / (norm + EPS)
    wp = {k: w[k].copy() for k in w}
    for k in wp:
        wp[k] -= c * v[k]
    g = grad_fn(wp)
    v_next = {k: v[k].copy() for k in v}
    w_next = {k: w[k].copy() for k in w}
    for k in w:
        v_next[k] *= momentum
        v_next[k] += g[k]
        v_next[k] += weight_decay * wp[k]
        w_next[k] -= lr * v_next[k]
    return w_next, v_next
