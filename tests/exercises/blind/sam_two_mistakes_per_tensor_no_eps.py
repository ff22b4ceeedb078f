"""SAM on SGD with momentum (two mistakes)."""

import numpy as np


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    wp = {k: w[k] + rho * g[k] / np.linalg.norm(g[k]) for k in w}
    gp = grad_fn(wp)
    v_next = {k: momentum * v[k] + gp[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
