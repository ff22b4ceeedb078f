def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {}
    for k in w:
        a[k] = w[k] - momentum * v[k]
    g = grad_fn(a)
    v_next = {}
    w_next = {}
    for k in w:
        v_next[k] = momentum * v[k] + g[k] + weight_decay * a[k]
        w_next[k] = w[k] - lr * v_next[k]
    return w_next, v_next
