def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    # exponential moving average of the gradient, so the step size does not blow up by 1/(1-mu)
    g = grad_fn(w)
    w_next, v_next = {}, {}
    for name in w:
        d = g[name] + weight_decay * w[name]
        v_next[name] = momentum * v[name] + (1.0 - momentum) * d
        w_next[name] = w[name] - lr * v_next[name]
    return w_next, v_next
