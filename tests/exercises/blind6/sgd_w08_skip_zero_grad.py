import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    w_next, v_next = {}, {}
    for k in w:
        if not np.any(g[k]):
            # no gradient for this parameter: leave it alone (like p.grad is None in torch)
            w_next[k], v_next[k] = w[k].copy(), v[k].copy()
            continue
        v_next[k] = momentum * v[k] + g[k] + weight_decay * w[k]
        w_next[k] = w[k] - lr * v_next[k]
    return w_next, v_next
