import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    vnorm = np.sqrt(sum(np.sum(b**2) for b in v.values()))
    wp = {k: w[k] - rho * v[k] / (vnorm + EPS) for k in w}
    g = grad_fn(wp)
    # weight decay belongs to the real weights, not to the probe point
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
