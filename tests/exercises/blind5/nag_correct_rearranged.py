"""NAG: w_{t+1} = a_t - lr d_t, since w - lr (mu v + d) = (w - lr mu v) - lr d."""

import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - (lr * momentum) * v[k] for k in w}
    g = grad_fn({k: a[k].copy() for k in a})
    d = {k: np.add(g[k], weight_decay * a[k]) for k in a}
    w_next = {k: a[k] - lr * d[k] for k in a}
    v_next = {k: momentum * v[k] + d[k] for k in a}
    return w_next, v_next
