def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    # a = w - lr mu v, so  w - lr (mu v + d) = a - lr d: the step continues from the look-ahead
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    d = {k: g[k] + weight_decay * a[k] for k in a}
    v_next = {k: momentum * v[k] + d[k] for k in a}
    w_next = {k: a[k] - lr * d[k] for k in a}
    return w_next, v_next
