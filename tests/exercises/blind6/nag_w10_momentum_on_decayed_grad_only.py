def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] for k in w}
    # decoupled decay at the end, scaled by the learning rate
    w_next = {k: (w[k] - lr * v_next[k]) * (1.0 - lr * weight_decay) for k in w}
    return w_next, v_next
