def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    # peek ahead along the momentum
    ahead = {k: w[k] + lr * momentum * v[k] for k in w}
    g = grad_fn(ahead)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * ahead[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
