import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    sq = sum(float(np.sum(g[k] ** 2)) for k in g)
    scale = rho / (sq + EPS)
    g_adv = grad_fn({k: w[k] + scale * g[k] for k in w})
    v_next = {k: momentum * v[k] + g_adv[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
