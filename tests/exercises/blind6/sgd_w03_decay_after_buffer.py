def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {}
    w_next = {}
    for k in w:
        v_next[k] = momentum * v[k] + g[k]
        # regulariser gradient lambda*w, added to the update
        w_next[k] = w[k] - lr * (v_next[k] + weight_decay * w[k])
    return w_next, v_next
