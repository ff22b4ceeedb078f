import numpy as np


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    norm = np.sqrt(sum(np.sum(b * b) for b in v.values()))
    if norm > 0:
        wp = {k: w[k] - rho * v[k] / norm for k in w}
    else:
        # no momentum yet: perturb along the gradient instead, like SAM
        g0 = grad_fn(w)
        gn = np.sqrt(sum(np.sum(x * x) for x in g0.values()))
        wp = {k: w[k] + rho * g0[k] / gn for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
