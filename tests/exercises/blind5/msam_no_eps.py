import numpy as np


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    total = 0.0
    for x in v.values():
        total += np.sum(x * x)
    u = {k: v[k] / np.sqrt(total) for k in v}
    wp = {k: w[k] - rho * u[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
