import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    if all(not np.any(g[k]) for k in g):
        # nothing to learn from this batch: skip the step (as a loss scaler skips bad steps)
        return {k: w[k].copy() for k in w}, {k: v[k].copy() for k in v}
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
