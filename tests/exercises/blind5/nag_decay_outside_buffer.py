def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    """Momentum on the data gradient only; the L2 term is added at update time."""
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] for k in w}
    w_next = {k: w[k] - lr * (v_next[k] + weight_decay * a[k]) for k in w}
    return w_next, v_next
