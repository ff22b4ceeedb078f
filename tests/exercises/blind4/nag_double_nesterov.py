def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    w_next, v_next = {}, {}
    for k in w:
        d = g[k] + weight_decay * a[k]
        v_next[k] = momentum * v[k] + d
        w_next[k] = w[k] - lr * (d + momentum * v_next[k])
    return w_next, v_next
