"""Student answer: Momentum-SAM in the memory-free form (w holds the perturbed point)."""

import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    scale = rho / (global_norm(v) + EPS)
    d = {k: g[k] + weight_decay * w[k] for k in w}
    for k in w:
        w[k] += scale * v[k]  # undo: back to w_t
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    # perturb again for the next step
    return {k: w_next[k] - scale * v[k] for k in w}, v_next
