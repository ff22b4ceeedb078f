"""MSAM written as: w_{t+1} = w_t - lr mu v_t - lr d_t, with the perturbation as one scalar."""

import math

import numpy as np

EPS = 1e-12


class _Tree(dict):
    def norm(self):
        return math.sqrt(sum(float(np.dot(x.ravel(), x.ravel())) for x in self.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    v = _Tree(v)
    c = rho / (v.norm() + EPS)
    wp = {k: np.subtract(w[k], c * v[k]) for k in w}
    g = grad_fn(wp)
    d = {k: g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: (w[k] - lr * momentum * v[k]) - lr * d[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    return w_next, v_next
