import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {}
    for k in w:
        # keep the optimizer state in float32 to save memory, as mixed-precision trainers do
        v_next[k] = (momentum * v[k] + g[k] + weight_decay * w[k]).astype(np.float32)
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
