"""Student answer: SGD with momentum."""


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] for k in w}
    # L2 regularisation: its gradient lam * w goes into the step
    w_next = {k: w[k] - lr * (v_next[k] + weight_decay * w[k]) for k in w}
    return w_next, v_next
