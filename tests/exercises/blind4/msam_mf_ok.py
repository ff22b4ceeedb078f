import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)  # at the perturbed point held in w
    d = {k: g[k] + weight_decay * w[k] for k in w}
    undo = rho / (global_norm(v) + EPS)
    v_next = {k: momentum * v[k] + d[k] for k in w}
    redo = rho / (global_norm(v_next) + EPS)
    w_next = {k: w[k] + undo * v[k] - lr * v_next[k] - redo * v_next[k] for k in w}
    return w_next, v_next
