def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    # keep the params at the next look-ahead point, so the next gradient is taken at w
    w_next = {k: w[k] - lr * v_next[k] - lr * momentum * v_next[k] for k in w}
    return w_next, v_next
