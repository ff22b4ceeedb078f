"""Reference solution: SAM with SGD-momentum as the base optimizer (exercises/03_sam.ipynb)."""

import numpy as np

EPS = 1e-12


def global_norm(tree):
    """The L2 norm of all arrays of a dict together."""
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    """One SAM step on dicts of arrays; returns ``(w_next, v_next)``.

    e = rho g(w) / (||g(w)|| + EPS);  d = g(w + e) + lam w;  v_next = mu v + d;
    w_next = w - lr v_next
    """
    g1 = grad_fn(w)
    scale = rho / (global_norm(g1) + EPS)
    g2 = grad_fn({k: w[k] + scale * g1[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
