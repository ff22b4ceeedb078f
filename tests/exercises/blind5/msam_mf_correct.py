"""Momentum-SAM, memory-free (Algorithm 1): I hold the perturbed point and return the next one."""

import numpy as np

EPS = 1e-12


def _norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)  # w is the perturbed point
    d = {k: g[k] + weight_decay * w[k] for k in w}
    c = rho / (_norm(v) + EPS)
    unperturbed = {k: w[k] + c * v[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_next = {k: unperturbed[k] - lr * v_next[k] for k in w}
    c_next = rho / (_norm(v_next) + EPS)
    return {k: w_next[k] - c_next * v_next[k] for k in w}, v_next
