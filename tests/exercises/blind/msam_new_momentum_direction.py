"""Momentum-SAM: perturb along the freshest momentum (momentum of the gradient at w)."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g0 = grad_fn(w)
    v_tmp = {k: momentum * v[k] + g0[k] for k in w}
    norm = np.sqrt(sum(np.sum(x * x) for x in v_tmp.values()))
    wp = {k: w[k] - rho * v_tmp[k] / (norm + EPS) for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
