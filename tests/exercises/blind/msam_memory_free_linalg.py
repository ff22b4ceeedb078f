"""Momentum-SAM, memory-free: the model always sits at the perturbed point.

w in and out is w~ = w - rho v / (||v|| + EPS). One step: gradient and decay at w~, move
back to w, momentum step, move to the next perturbed point.
"""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    norm_v = np.linalg.norm([np.linalg.norm(x) for x in v.values()])
    g = grad_fn(w)
    v_next, w_next = {}, {}
    for k in w:
        v_next[k] = momentum * v[k] + g[k] + weight_decay * w[k]
    norm_next = np.linalg.norm([np.linalg.norm(x) for x in v_next.values()])
    for k in w:
        back = w[k] + rho / (norm_v + EPS) * v[k]
        w_next[k] = back - lr * v_next[k] - rho / (norm_next + EPS) * v_next[k]
    return w_next, v_next
