def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    v_next = {}
    for k in w:
        decay = lr * weight_decay * a[k]  # weight decay step
        v_next[k] = momentum * v[k] + g[k] + decay
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
