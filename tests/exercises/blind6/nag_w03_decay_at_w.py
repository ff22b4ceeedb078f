def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    lookahead = {k: w[k] - lr * momentum * v[k] for k in w}
    grad = grad_fn(lookahead)
    # L2 penalty on the weights we actually hold
    v_next = {k: momentum * v[k] + grad[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
