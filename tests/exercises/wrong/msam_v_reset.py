"""Wrong: starts every step from a fresh zero momentum (so there is never a perturbation)."""

import numpy as np

EXERCISE, PITFALL = "msam", "momentum_not_carried"


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    v = {k: np.zeros_like(x) for k, x in w.items()}  # BUG: throws the momentum away
    scale = rho / (np.sqrt(sum(np.sum(x * x) for x in v.values())) + 1e-12)
    wp = {k: w[k] - scale * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
