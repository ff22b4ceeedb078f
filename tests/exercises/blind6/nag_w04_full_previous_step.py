def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    # first repeat the previous step (w - lr v), then take the gradient there
    a = {k: w[k] - lr * v[k] for k in w}
    g = grad_fn(a)
    d = {k: g[k] + weight_decay * a[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
