import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    norm = np.sqrt(sum(np.sum(g[k] * g[k]) for k in g))
    e = {k: -rho * g[k] / (norm + EPS) for k in g}  # the perturbation step
    g2 = grad_fn({k: w[k] + e[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
