"""Exercise 1: heavy ball, the way I learned it (v holds the displacement)."""


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    grads = grad_fn(w)
    v_next = {k: momentum * v[k] + lr * (grads[k] + weight_decay * w[k]) for k in w}
    w_next = {k: w[k] - v_next[k] for k in w}
    return w_next, v_next
