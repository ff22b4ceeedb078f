"""A student's answer."""


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    for k in w:
        v[k] *= momentum
        v[k] += g[k]
        v[k] += weight_decay * w[k]
        w[k] -= lr * v[k]
    return w, v
