import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    norm = np.sqrt(sum((g1[k] ** 2).sum() for k in g1))
    e = {k: -rho * g1[k] / (norm + EPS) for k in g1}  # step of length rho along the gradient
    g2 = grad_fn({k: w[k] + e[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
