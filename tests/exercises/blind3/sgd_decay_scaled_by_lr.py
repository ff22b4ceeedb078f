"""A student's answer."""


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + lr * weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
