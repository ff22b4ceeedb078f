def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    """Velocity form (as in the classic momentum papers): v holds the step itself."""
    grads = grad_fn(w)
    v_next = {k: momentum * v[k] + lr * (grads[k] + weight_decay * w[k]) for k in w}
    w_next = {k: w[k] - v_next[k] for k in w}
    return w_next, v_next
