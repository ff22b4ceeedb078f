import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = dict(w)
    for k in a:
        a[k] -= lr * momentum * v[k]  # move to the look-ahead point
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, {k: np.copy(x) for k, x in v_next.items()}
