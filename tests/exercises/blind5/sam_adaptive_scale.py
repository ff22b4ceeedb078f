"""SAM with the perturbation scaled per weight by |w| (adaptive, scale-invariant)."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    tg = {k: np.abs(w[k]) * g[k] for k in w}
    norm = np.sqrt(sum(np.sum(x * x) for x in tg.values()))
    e = {k: rho * np.abs(w[k]) * tg[k] / (norm + EPS) for k in w}
    g2 = grad_fn({k: w[k] + e[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
