"""SGD with momentum, updating the arrays in place to save memory."""

import numpy as np  # noqa: F401


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    for k in w:
        v[k] *= momentum
        v[k] += g[k] + weight_decay * w[k]
        w[k] -= lr * v[k]
    return w, v
