"""Nesterov momentum, look-ahead form (Sutskever et al. 2013)."""

import numpy as np  # noqa: F401


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    lookahead = {k: w[k] - momentum * v[k] for k in w}
    g = grad_fn(lookahead)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * lookahead[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
