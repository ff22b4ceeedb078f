import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    # the forward pass runs in float32, so build the look-ahead point in float32
    a = {k: (w[k] - lr * momentum * v[k]).astype(np.float32) for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
