"""A student's answer."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    def norm(tree):
        return np.sqrt(sum(np.sum(x * x) for x in tree.values()))

    c = rho / (norm(v) + EPS)
    w_true = {k: w[k] + c * v[k] for k in w}
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w_true[k] - lr * v_next[k] for k in w}
    c_next = rho / (norm(v_next) + EPS)
    return {k: w_next[k] + c_next * v_next[k] for k in w}, v_next
