"""A student's answer."""

import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    total = np.sqrt(sum(np.sum(x**2) for x in g.values()))
    factor = min(1.0, 1.0 / (total + 1e-6))
    d = {k: factor * g[k] + weight_decay * w[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
