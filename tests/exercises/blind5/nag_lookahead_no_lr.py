import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    # look ahead by the momentum term: where the velocity would carry us
    a = {k: np.subtract(w[k], momentum * v[k]) for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
