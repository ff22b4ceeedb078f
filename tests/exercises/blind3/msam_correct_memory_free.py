"""A student's answer."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    def norm(tree):
        return np.sqrt(sum(np.sum(x * x) for x in tree.values()))

    g = grad_fn(w)  # w is the perturbed point
    unperturbed = {k: w[k] + rho / (norm(v) + EPS) * v[k] for k in w}
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: unperturbed[k] - lr * v_next[k] for k in w}
    c_next = rho / (norm(v_next) + EPS)
    return {k: w_next[k] - c_next * v_next[k] for k in w}, v_next
