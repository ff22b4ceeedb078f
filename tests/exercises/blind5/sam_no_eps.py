import numpy as np


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    flat = np.concatenate([g[k].ravel() for k in g])
    e = {k: rho * g[k] / np.linalg.norm(flat) for k in g}
    g2 = grad_fn({k: w[k] + e[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
