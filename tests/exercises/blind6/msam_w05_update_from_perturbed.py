import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    vnorm = np.sqrt(sum(np.sum(b * b) for b in v.values()))
    for k in w:
        w[k] -= rho * v[k] / (vnorm + EPS)
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
