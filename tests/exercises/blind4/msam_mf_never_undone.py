import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    # w holds the perturbed point (Algorithm 1)
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    c = rho / (global_norm(v_next) + EPS)
    w_next = {k: w[k] - lr * v_next[k] - c * v_next[k] for k in w}
    return w_next, v_next
