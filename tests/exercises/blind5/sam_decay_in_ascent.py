import numpy as np

EPS = 1e-12


def _norm(tree):
    return np.sqrt(sum(np.vdot(x, x) for x in tree.values()))


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    # full gradient of the regularised loss, used for both the ascent and the descent
    raw = grad_fn(w)
    g = {k: raw[k] + weight_decay * w[k] for k in w}
    e = {k: rho * g[k] / (_norm(g) + EPS) for k in w}
    g2 = grad_fn({k: w[k] + e[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
