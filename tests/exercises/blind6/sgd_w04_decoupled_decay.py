def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] for k in g}
    # shrink the weights, then step
    w_next = {k: w[k] * (1 - lr * weight_decay) - lr * v_next[k] for k in w}
    return w_next, v_next
