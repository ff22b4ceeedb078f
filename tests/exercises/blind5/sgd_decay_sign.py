def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    # L2 penalty lam/2 ||w||^2 pulls the weights towards zero
    d = {k: g[k] - weight_decay * w[k] for k in g}
    v_next = {k: momentum * v[k] + d[k] for k in v}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
