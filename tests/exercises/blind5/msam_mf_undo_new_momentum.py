"""Momentum-SAM as in the paper's Algorithm 1: the params I hold are the perturbed point."""

import numpy as np

EPS = 1e-12


def _norm(t):
    return np.sqrt(sum(np.sum(x * x) for x in t.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    u = {k: v_next[k] / (_norm(v_next) + EPS) for k in w}
    # back to the real weights, step, and perturb again for the next batch
    w_real = {k: w[k] + rho * u[k] for k in w}
    w_real = {k: w_real[k] - lr * v_next[k] for k in w}
    return {k: w_real[k] - rho * u[k] for k in w}, v_next
