"""SAM on SGD with momentum, scale-invariant ascent |w| * g."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    tg = {k: np.abs(w[k]) * g[k] for k in w}
    norm = np.sqrt(sum(np.sum(x * x) for x in tg.values()))
    wp = {k: w[k] + rho * np.abs(w[k]) * tg[k] / (norm + EPS) for k in w}
    gp = grad_fn(wp)
    v_next = {k: momentum * v[k] + gp[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
