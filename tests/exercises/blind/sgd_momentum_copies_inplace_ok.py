"""SGD with momentum: copy the inputs, then update the copies in place."""

import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    w_next = {k: np.array(x, copy=True) for k, x in w.items()}
    v_next = {k: np.array(x, copy=True) for k, x in v.items()}
    for k in w_next:
        v_next[k] *= momentum
        v_next[k] += g[k]
        v_next[k] += weight_decay * w[k]
        np.subtract(w_next[k], lr * v_next[k], out=w_next[k])
    return w_next, v_next
