def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    # we are already at the look-ahead point: continue from there
    w_next = {k: a[k] - lr * v_next[k] for k in w}
    return w_next, v_next
