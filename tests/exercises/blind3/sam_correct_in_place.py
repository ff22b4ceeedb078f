"""A student's answer."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    def norm(tree):
        return np.sqrt(sum(np.sum(x * x) for x in tree.values()))

    g1 = grad_fn(w)
    c = rho / (norm(g1) + EPS)
    e = {k: c * g1[k] for k in w}
    for k in w:
        w[k] += e[k]
    g2 = grad_fn(w)
    for k in w:
        w[k] -= e[k]
        v[k] = momentum * v[k] + g2[k] + weight_decay * w[k]
        w[k] = w[k] - lr * v[k]
    return w, v
