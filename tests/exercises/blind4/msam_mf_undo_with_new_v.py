import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    v = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    c = rho / (global_norm(v) + EPS)
    base = {k: w[k] + c * v[k] for k in w}  # move back to the unperturbed weights
    base = {k: base[k] - lr * v[k] for k in w}
    w_next = {k: base[k] - c * v[k] for k in w}
    return w_next, v
