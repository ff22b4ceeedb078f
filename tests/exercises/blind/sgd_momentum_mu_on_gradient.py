"""SGD with momentum."""

import numpy as np  # noqa: F401


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: v[k] + momentum * (g[k] + weight_decay * w[k]) for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
