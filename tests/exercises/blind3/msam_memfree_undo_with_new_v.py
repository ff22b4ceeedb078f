"""A student's answer."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    def norm(tree):
        return np.sqrt(sum(np.sum(x * x) for x in tree.values()))

    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    c_new = rho / (norm(v_next) + EPS)
    base = {k: w[k] + c_new * v_next[k] for k in w}
    w_next = {k: base[k] - lr * v_next[k] for k in w}
    return {k: w_next[k] - c_new * v_next[k] for k in w}, v_next
