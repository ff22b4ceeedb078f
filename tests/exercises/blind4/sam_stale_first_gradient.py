import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    scale = rho / (global_norm(g) + EPS)
    perturbed = {k: w[k] + scale * g[k] for k in w}
    grad_fn(perturbed)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
