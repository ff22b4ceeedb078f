"""Wrong: weight decay added beside the momentum instead of to the gradient that enters it."""

EXERCISE, PITFALL = "sgd-momentum", "weight_decay_placement"


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] for k in w}
    w_next = {k: w[k] - lr * (v_next[k] + weight_decay * w[k]) for k in w}  # BUG
    return w_next, v_next
