import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    n = np.sqrt(sum(np.sum(x * x) for x in g1.values()))
    wp = {k: w[k] + rho * g1[k] / (n + EPS) for k in w}
    g2 = grad_fn(wp)
    # full gradient of the regularised loss at the adversarial point
    d = {k: g2[k] + weight_decay * wp[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
