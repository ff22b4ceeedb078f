"""Wrong: starts every step from a fresh zero momentum."""

import numpy as np

EXERCISE, PITFALL = "nag", "momentum_not_carried"


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    v = {k: np.zeros_like(x) for k, x in w.items()}  # BUG: throws the momentum away
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
