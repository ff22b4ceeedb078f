import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    scale = rho / (np.sqrt(sum(np.sum(x**2) for x in g.values())) + EPS)
    w_adv = {k: w[k] + scale * g[k] for k in w}
    g_adv = grad_fn(w_adv)
    v_next = {k: momentum * v[k] + g_adv[k] + weight_decay * w[k] for k in w}
    # step from where we are now
    w_next = {k: w_adv[k] - lr * v_next[k] for k in w}
    return w_next, v_next
