"""Reference solution: NAG in the look-ahead form (exercises/02_nag.ipynb)."""

import numpy as np  # noqa: F401  (the stub's imports, kept so the cell can replace the stub)


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    """One NAG step on dicts of arrays; returns ``(w_next, v_next)``.

    a = w - lr mu v;  d = g(a) + lam a;  v_next = mu v + d;  w_next = w - lr v_next
    """
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
