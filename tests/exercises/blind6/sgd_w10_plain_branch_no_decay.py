import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    if momentum == 0:
        # plain SGD: no buffer needed
        return {k: w[k] - lr * g[k] for k in w}, {k: np.zeros_like(w[k]) for k in w}
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
