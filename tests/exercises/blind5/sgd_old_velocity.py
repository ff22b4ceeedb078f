"""SGD + momentum: move with the current velocity, then update the velocity."""


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    w_next, v_next = {}, {}
    for k in w:
        w_next[k] = w[k] - lr * v[k]
        v_next[k] = momentum * v[k] + g[k] + weight_decay * w[k]
    return w_next, v_next
