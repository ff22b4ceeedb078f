def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    new_v = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    new_w = {k: w[k] - lr * new_v[k] for k in w}
    return new_w, v
