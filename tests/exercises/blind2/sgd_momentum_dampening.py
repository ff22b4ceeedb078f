"""Student answer: SGD with momentum as a running average."""


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    # the buffer is an exponential moving average of the gradients
    v_next = {k: momentum * v[k] + (1 - momentum) * (g[k] + weight_decay * w[k]) for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
