"""Student answer: Momentum-SAM, the update written from the perturbed point.

w - lr v' = (w~ + rho u) - lr v'.
"""

import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    n = global_norm(v)
    u = {k: v[k] / (n + EPS) for k in v}
    wp = {k: w[k] - rho * u[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + (g[k] + weight_decay * wp[k]) for k in w}
    w_next = {k: (wp[k] + rho * u[k]) - lr * v_next[k] for k in w}
    return w_next, v_next
