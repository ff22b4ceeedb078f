def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = w.copy()
    for k in a:
        a[k] -= lr * momentum * v[k]
    g = grad_fn(a)
    v_new = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in v}
    w_new = {k: w[k] - lr * v_new[k] for k in w}
    return w_new, v_new
