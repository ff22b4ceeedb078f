"""SAM on SGD with momentum."""

import numpy as np  # noqa: F401


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    g_adv = grad_fn({k: w[k] + rho * g[k] for k in w})
    v_next = {k: momentum * v[k] + g_adv[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
