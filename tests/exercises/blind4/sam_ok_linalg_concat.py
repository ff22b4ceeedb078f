import numpy as np


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    norm = np.linalg.norm(np.concatenate([g.ravel() for g in g1.values()]))
    e = {k: g1[k] * (rho / (norm + 1e-12)) for k in w}
    climbed = {k: w[k] + e[k] for k in w}
    g2 = grad_fn(climbed)
    back = {k: climbed[k] - e[k] for k in w}  # w again (up to rounding)
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    w_next = {k: back[k] - lr * v_next[k] for k in w}
    return w_next, v_next
