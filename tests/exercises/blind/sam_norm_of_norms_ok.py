"""SAM on SGD with momentum; global norm as the norm of the per-array norms."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    norm = np.linalg.norm([np.linalg.norm(x) for x in g1.values()])
    e = {k: g1[k] * (rho / (norm + EPS)) for k in w}
    g2 = grad_fn({k: w[k] + e[k] for k in w})
    v_next = {k: np.add(np.multiply(momentum, v[k]), g2[k] + weight_decay * w[k]) for k in w}
    w_next = {k: w[k] + (-lr) * v_next[k] for k in w}
    return w_next, v_next
