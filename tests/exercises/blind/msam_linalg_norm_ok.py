"""Momentum-SAM; the global norm from the per-array norms."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    norm = np.sqrt(sum(np.linalg.norm(x) ** 2 for x in v.values()))
    u = {k: v[k] / (norm + EPS) for k in v}
    wp = {k: w[k] - rho * u[k] for k in w}
    g = grad_fn(wp)
    d = {k: g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * momentum * v[k] - lr * d[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    return w_next, v_next
