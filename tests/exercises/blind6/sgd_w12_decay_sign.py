def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    # loss + (lambda / 2) ||w||^2  ->  subtract lambda * w to pull the weights towards 0
    d = {k: g[k] - weight_decay * w[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
