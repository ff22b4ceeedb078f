import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    scale = rho / (global_norm(g1) + EPS)
    w = {k: w[k] + scale * g1[k] for k in w}
    g2 = grad_fn(w)
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * (w[k] - scale * g1[k]) for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
