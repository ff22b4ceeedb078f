import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    c_old = rho / (global_norm(v) + EPS)
    w0 = {k: w[k] + c_old * v[k] for k in w}
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w0[k] for k in w}
    w1 = {k: w0[k] - lr * v_next[k] for k in w}
    c_new = rho / (global_norm(v_next) + EPS)
    return {k: w1[k] - c_new * v_next[k] for k in w}, v_next
