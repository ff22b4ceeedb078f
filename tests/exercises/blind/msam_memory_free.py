"""Momentum-SAM in the paper's memory-free form.

The w passed in and returned is the perturbed point w~ = w - rho v / (||v|| + EPS),
where the model is evaluated; the true weights are w~ + rho v / (||v|| + EPS).
"""

import numpy as np

EPS = 1e-12


def _scale(v, rho):
    return rho / (np.sqrt(sum(np.sum(x * x) for x in v.values())) + EPS)


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    w_tilde = w
    g = grad_fn(w_tilde)
    d = {k: g[k] + weight_decay * w_tilde[k] for k in w}
    c = _scale(v, rho)
    w_true = {k: w_tilde[k] + c * v[k] for k in w}  # undo the perturbation
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_true_next = {k: w_true[k] - lr * v_next[k] for k in w}
    c_next = _scale(v_next, rho)
    w_tilde_next = {k: w_true_next[k] - c_next * v_next[k] for k in w}  # apply the next one
    return w_tilde_next, v_next
