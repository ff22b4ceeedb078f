"""SAM on SGD with momentum; the norm of all gradients as one flat vector."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    norm = np.linalg.norm(np.concatenate([g[k].ravel() for k in sorted(g)]))
    scale = rho / (norm + EPS)
    g_adv = grad_fn({k: w[k] + scale * g[k] for k in w})
    v_next = {}
    w_next = {}
    for k in w:
        v_next[k] = momentum * v[k] + (g_adv[k] + weight_decay * w[k])
        w_next[k] = w[k] - lr * momentum * v[k] - lr * (g_adv[k] + weight_decay * w[k])
    return w_next, v_next
