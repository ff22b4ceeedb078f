"""Reference solution: Momentum-SAM (exercises/04_msam.ipynb)."""

import numpy as np

EPS = 1e-12


def global_norm(tree):
    """The L2 norm of all arrays of a dict together."""
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    """One MSAM step on dicts of arrays; returns ``(w_next, v_next)``.

    wp = w - rho v / (||v|| + EPS);  d = g(wp) + lam wp;  v_next = mu v + d;
    w_next = w - lr v_next
    """
    scale = rho / (global_norm(v) + EPS)
    wp = {k: w[k] - scale * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
