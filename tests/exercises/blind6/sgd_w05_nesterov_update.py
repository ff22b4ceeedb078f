def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    grad = grad_fn(w)
    d = {k: grad[k] + weight_decay * w[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    # step = gradient + momentum * buffer
    w_next = {k: w[k] - lr * (d[k] + momentum * v_next[k]) for k in w}
    return w_next, v_next
