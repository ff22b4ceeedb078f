import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    """v is the last update (lr included); its direction is all MSAM needs."""
    vnorm = np.sqrt(sum(np.sum(b * b) for b in v.values()))
    wp = {k: w[k] - rho * v[k] / (vnorm + EPS) for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + lr * (g[k] + weight_decay * wp[k]) for k in w}
    w_next = {k: w[k] - v_next[k] for k in w}
    return w_next, v_next
