import numpy as np

_velocity = {}  # momentum kept between calls


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    for k in w:
        buf = _velocity.get(k, np.zeros_like(w[k]))
        if buf.shape != w[k].shape:
            buf = np.zeros_like(w[k])
        _velocity[k] = momentum * buf + g[k] + weight_decay * w[k]
    w_next = {k: w[k] - lr * _velocity[k] for k in w}
    return w_next, {k: _velocity[k].copy() for k in w}
