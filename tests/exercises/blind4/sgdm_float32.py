import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    w32 = {k: w[k].astype(np.float32) for k in w}
    v_next = {
        k: np.float32(momentum) * v[k].astype(np.float32)
        + g[k].astype(np.float32)
        + np.float32(weight_decay) * w32[k]
        for k in w
    }
    w_next = {k: w32[k] - np.float32(lr) * v_next[k] for k in w}
    return w_next, v_next
