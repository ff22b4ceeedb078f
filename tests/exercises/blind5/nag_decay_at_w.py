def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    lookahead = {}
    for k in w:
        lookahead[k] = w[k] - lr * momentum * v[k]
    g = grad_fn(lookahead)
    v_next, w_next = {}, {}
    for k in w:
        v_next[k] = momentum * v[k] + g[k] + weight_decay * w[k]
        w_next[k] = w[k] - lr * v_next[k]
    return w_next, v_next
