def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    d = dict(g)
    if weight_decay:
        decay = dict(w)  # a copy of the weights to scale
        for k in decay:
            decay[k] *= weight_decay
            d[k] = d[k] + decay[k]
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
