def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    look = {name: w[name] - lr * momentum * v[name] for name in w}
    grads = grad_fn(look)
    v_next = {}
    for name in w:
        d = grads[name] + weight_decay * look[name]
        v_next[name] = momentum * v[name] + (1.0 - momentum) * d
    w_next = {name: w[name] - lr * v_next[name] for name in w}
    return w_next, v_next
