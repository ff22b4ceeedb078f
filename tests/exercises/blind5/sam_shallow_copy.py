"""SAM: climb, take the gradient there, then step."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    norm = np.sqrt(sum((g[k] ** 2).sum() for k in g))
    w_adv = w.copy()
    for k in w_adv:
        w_adv[k] += rho * g[k] / (norm + EPS)
    g_adv = grad_fn(w_adv)
    v_next = {k: momentum * v[k] + g_adv[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
