"""A student's answer."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    def norm(tree):
        return np.sqrt(sum(np.sum(x * x) for x in tree.values()))

    # holds the perturbed point: w here is w~_t
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    c = rho / (norm(v_next) + EPS)
    return {k: w_next[k] - c * v_next[k] for k in w}, v_next
