"""Student answer: SGD with momentum, in single precision like a GPU would run it."""

import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next, w_next = {}, {}
    for k in w:
        d = (g[k] + weight_decay * w[k]).astype(np.float32)
        v_next[k] = np.float32(momentum) * v[k].astype(np.float32) + d
        w_next[k] = w[k].astype(np.float32) - np.float32(lr) * v_next[k]
    return w_next, v_next
