import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    n = np.sqrt(sum(float(np.dot(b.ravel(), b.ravel())) for b in v.values()))
    shift = {k: (rho / (n + EPS)) * v[k] for k in v}
    wp = {k: w[k] - shift[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + (g[k] + weight_decay * wp[k]) for k in w}
    # step from the perturbed point and put the shift back: wp + shift - lr v_next
    w_next = {k: (wp[k] - lr * v_next[k]) + shift[k] for k in w}
    return w_next, v_next
