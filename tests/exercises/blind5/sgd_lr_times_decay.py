def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    """d = g + lr * wd * w (the decay step scales with the learning rate)."""
    grads = grad_fn(w)
    new_v = {}
    new_w = {}
    for name in w:
        d = grads[name] + lr * weight_decay * w[name]
        new_v[name] = momentum * v[name] + d
        new_w[name] = w[name] - lr * new_v[name]
    return new_w, new_v
