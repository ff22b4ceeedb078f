"""Wrong: returns the next look-ahead point instead of w_next."""

EXERCISE, PITFALL = "nag", "nag_variable"


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return {k: w_next[k] - lr * momentum * v_next[k] for k in w}, v_next  # BUG
