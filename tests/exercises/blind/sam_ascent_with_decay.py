"""SAM on SGD with momentum; the ascent uses the full (regularised) gradient."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    full = {k: g[k] + weight_decay * w[k] for k in w}
    norm = np.sqrt(sum(np.sum(x**2) for x in full.values()))
    e = {k: rho * full[k] / (norm + EPS) for k in w}
    g_adv = grad_fn({k: w[k] + e[k] for k in w})
    v_next = {k: momentum * v[k] + g_adv[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
