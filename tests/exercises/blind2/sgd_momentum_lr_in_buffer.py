"""Student answer: SGD with momentum, the learning rate folded into the velocity."""


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    # velocity form: v <- mu v + lr d, w <- w - v (the same thing, fewer multiplies)
    v_next = {k: momentum * v[k] + lr * (g[k] + weight_decay * w[k]) for k in w}
    w_next = {k: w[k] - v_next[k] for k in w}
    return w_next, v_next
