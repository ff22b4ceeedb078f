"""MSAM as in the paper's Algorithm 1: the weights I hold are the perturbed point."""

import numpy as np

EPS = 1e-12


def _norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    # w is w~_t = w_t - rho v_t / (||v_t|| + EPS); the gradient is taken right here
    g = grad_fn(w)
    d = {k: g[k] + weight_decay * w[k] for k in w}
    c_old = rho / (_norm(v) + EPS)
    w_true = {k: w[k] + c_old * v[k] for k in w}  # undo the perturbation
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_true = {k: w_true[k] - lr * v_next[k] for k in w}  # SGD-momentum step
    c_new = rho / (_norm(v_next) + EPS)
    return {k: w_true[k] - c_new * v_next[k] for k in w}, v_next  # next perturbed point
