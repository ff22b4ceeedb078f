import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    scale = rho / (np.sqrt(sum(np.sum(x * x) for x in v.values())) + EPS)
    wp = {k: w[k] for k in w}
    for k in wp:
        wp[k] -= scale * v[k]
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
