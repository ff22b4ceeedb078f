"""A student's answer."""

import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: (w[k] - lr * momentum * v[k]).astype(np.float32) for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
