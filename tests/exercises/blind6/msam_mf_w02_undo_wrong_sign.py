import numpy as np

EPS = 1e-12


def _gnorm(t):
    return np.sqrt(sum(np.sum(x * x) for x in t.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    d = {k: g[k] + weight_decay * w[k] for k in w}
    # remove the perturbation rho * v / ||v||
    base = {k: w[k] - rho * v[k] / (_gnorm(v) + EPS) for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    base = {k: base[k] - lr * v_next[k] for k in w}
    wp = {k: base[k] - rho * v_next[k] / (_gnorm(v_next) + EPS) for k in w}
    return wp, v_next
