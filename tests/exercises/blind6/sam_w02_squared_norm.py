import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    sq = sum(float(np.vdot(x, x)) for x in g1.values())
    scale = rho / (sq + EPS)
    w_adv = {k: w[k] + scale * g1[k] for k in w}
    g2 = grad_fn(w_adv)
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
