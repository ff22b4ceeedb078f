"""Wrong: returns the momentum it was given, so every step starts from v = 0."""

EXERCISE, PITFALL = "sgd-momentum", "momentum_not_carried"


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v  # BUG: v, not v_next
