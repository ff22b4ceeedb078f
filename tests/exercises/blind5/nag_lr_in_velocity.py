"""Sutskever et al. (2013): v <- mu v - lr g(w + mu v); w <- w + v. Stored with the sign flipped
so that v accumulates plus gradients, as the exercise says."""


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - momentum * v[k] for k in w}
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + lr * (g[k] + weight_decay * a[k]) for k in w}
    w_next = {k: w[k] - v_next[k] for k in w}
    return w_next, v_next
