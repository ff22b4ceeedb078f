"""SGD with momentum, exercise 1."""

import numpy as np  # noqa: F401


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    w_next, v_next = {}, {}
    for k in w:
        d = g[k] + weight_decay * w[k]
        # exponential moving average of the gradient, so the step size does not grow with 1/(1-mu)
        v_next[k] = momentum * v[k] + (1 - momentum) * d
        w_next[k] = w[k] - lr * v_next[k]
    return w_next, v_next
