"""A student's answer."""


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k].copy() for k in w}
    for k in a:
        a[k] -= lr * momentum * v[k]
    g = grad_fn(a)
    for k in w:
        v[k] *= momentum
        v[k] += g[k] + weight_decay * a[k]
        w[k] -= lr * v[k]
    return w, v
