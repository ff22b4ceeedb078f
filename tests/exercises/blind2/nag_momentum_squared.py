"""Student answer: NAG, look-ahead form."""


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    v = {k: momentum * v[k] for k in v}  # decay the momentum first
    a = {k: w[k] - lr * momentum * v[k] for k in w}  # look ahead along it
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
