def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {}
    w_next = {}
    for key, wk in w.items():
        d = g[key] + weight_decay * wk
        v_next[key] = momentum * v[key] + d
        # decay the weights as well
        w_next[key] = wk - lr * v_next[key] - lr * weight_decay * wk
    return w_next, v_next
