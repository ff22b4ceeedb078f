import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    scale = rho / (np.sqrt(sum(np.sum(g**2) for g in g1.values())) + EPS)
    w_adv = dict(w)
    for k in w_adv:
        w_adv[k] += scale * g1[k]
    g2 = grad_fn(w_adv)
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
