"""Student answer: SGD with momentum, decay applied to the new weights."""


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    # shrink the weights after the step (weight decay)
    w_next = {k: w_next[k] * (1 - lr * weight_decay) for k in w}
    return w_next, v_next
