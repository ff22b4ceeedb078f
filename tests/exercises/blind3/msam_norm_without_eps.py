"""A student's answer."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    def norm(tree):
        return np.sqrt(sum(np.sum(x * x) for x in tree.values()))

    u = {k: v[k] / norm(v) for k in v}
    wp = {k: w[k] - rho * u[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
