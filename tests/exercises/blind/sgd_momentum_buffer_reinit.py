"""SGD with momentum."""

import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    v = {k: np.zeros_like(w[k]) for k in w}  # momentum buffer
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
