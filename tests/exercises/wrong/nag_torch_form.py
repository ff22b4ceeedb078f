"""Wrong: PyTorch's SGD(nesterov=True) update, whose variable is the look-ahead point, on w."""

EXERCISE, PITFALL = "nag", "nag_variable"


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    d = {k: g[k] + weight_decay * w[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_next = {k: w[k] - lr * (d[k] + momentum * v_next[k]) for k in w}  # BUG: another variable
    return w_next, v_next
