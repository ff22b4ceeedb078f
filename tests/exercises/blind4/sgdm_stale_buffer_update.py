def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    w_next = {k: w[k] - lr * v[k] for k in w}
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    return w_next, v_next
