"""SAM on SGD with momentum."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    norm = np.sqrt(sum(np.sum(x * x) for x in g.values()))
    wp = {k: w[k] - rho * g[k] / (norm + EPS) for k in w}
    gp = grad_fn(wp)
    v_next = {k: momentum * v[k] + gp[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
