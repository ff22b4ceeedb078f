def l2_grad(w, lam):
    # gradient of lam * ||w||^2
    return 2 * lam * w


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + l2_grad(w[k], weight_decay) for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
