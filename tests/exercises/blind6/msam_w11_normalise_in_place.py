import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    total = np.sqrt(sum(np.sum(b * b) for b in v.values()))
    u = v  # unit direction of the momentum
    for k in u:
        u[k] /= total + EPS
    wp = {k: w[k] - rho * u[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
