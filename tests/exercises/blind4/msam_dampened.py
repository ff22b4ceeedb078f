import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    scale = rho / (global_norm(v) + EPS)
    wp = {k: w[k] - scale * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + (1 - momentum) * (g[k] + weight_decay * wp[k]) for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
