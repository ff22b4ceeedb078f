"""Wrong: the gradient is taken at w, not at the look-ahead point (this is heavy ball)."""

EXERCISE, PITFALL = "nag", "nag_variable"


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)  # BUG: grad_fn(a) with a = w - lr * momentum * v
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
