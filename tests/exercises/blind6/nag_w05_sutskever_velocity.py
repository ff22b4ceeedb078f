def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    """Sutskever et al. (2013): v <- mu v - lr grad(w + mu v);  w <- w + v.

    Here v is the velocity (a step, already times lr), as in the paper.
    """
    peek = {k: w[k] + momentum * v[k] for k in w}
    g = grad_fn(peek)
    v_next = {k: momentum * v[k] - lr * (g[k] + weight_decay * peek[k]) for k in w}
    w_next = {k: w[k] + v_next[k] for k in w}
    return w_next, v_next
