def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    # perturb by rho times the momentum (rho is a relative radius)
    wp = {k: w[k] - rho * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
