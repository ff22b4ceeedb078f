"""MSAM ported from the official code: the perturbation scale is set at the end of a step
(rho / ||v||, with that step's rho) and used at the start of the next one."""

import numpy as np

EPS = 1e-12
_last_rho = [None]


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    r = rho if _last_rho[0] is None else _last_rho[0]
    scale = r / (np.sqrt(sum(np.sum(x * x) for x in v.values())) + EPS)
    wp = {k: w[k] - scale * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    _last_rho[0] = rho
    return w_next, v_next
