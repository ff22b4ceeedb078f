def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next, w_next = {}, {}
    for k in w:
        d = g[k] + weight_decay * w[k]
        v_next[k] = momentum * v[k] + (1.0 - momentum) * d
        w_next[k] = w[k] - lr * v_next[k]
    return w_next, v_next
