import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    norm = np.sqrt(sum(np.sum(b * b) for b in v.values()))
    # move rho along the momentum direction before taking the gradient
    wp = {k: w[k] + rho * v[k] / (norm + EPS) for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
