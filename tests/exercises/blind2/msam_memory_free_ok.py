"""Student answer: Momentum-SAM in the memory-free form of Algorithm 1.

w is the perturbed point w~_t; the answer returns w~_{t+1}.
"""

import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)  # at w~_t
    d = {k: g[k] + weight_decay * w[k] for k in w}
    back = rho / (global_norm(v) + EPS)
    w_t = {k: w[k] + back * v[k] for k in w}  # undo the perturbation
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_next = {k: w_t[k] - lr * v_next[k] for k in w}
    up = rho / (global_norm(v_next) + EPS)
    return {k: w_next[k] - up * v_next[k] for k in w}, v_next
