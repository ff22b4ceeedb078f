"""A student's answer."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    mats = [k for k in w if np.ndim(w[k]) > 1]
    c = rho / (np.sqrt(sum(np.sum(g1[k] ** 2) for k in mats)) + EPS)
    g2 = grad_fn({k: w[k] + c * g1[k] if k in mats else w[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
