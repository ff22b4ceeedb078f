"""Reference solution: SGD with heavy-ball momentum (exercises/01_sgd_momentum.ipynb)."""

import numpy as np  # noqa: F401  (the stub's imports, kept so the cell can replace the stub)


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    """One step of SGD with momentum on dicts of arrays; returns ``(w_next, v_next)``.

    d = g(w) + lam w;  v_next = mu v + d;  w_next = w - lr v_next
    """
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
