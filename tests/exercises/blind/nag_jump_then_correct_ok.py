"""Nesterov momentum: jump along the momentum, then correct with the gradient there."""

import numpy as np  # noqa: F401


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    jumped = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(jumped)
    d = {k: g[k] + weight_decay * jumped[k] for k in w}
    w_next = {k: jumped[k] - lr * d[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    return w_next, v_next
