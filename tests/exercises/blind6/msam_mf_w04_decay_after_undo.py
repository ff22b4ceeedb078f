import numpy as np

EPS = 1e-12


def _norm(tree):
    return float(np.sqrt(sum(np.sum(a * a) for a in tree.values())))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    restored = {k: w[k] + rho * v[k] / (_norm(v) + EPS) for k in w}
    # decay the real weights, not the perturbed copy
    v_next = {k: momentum * v[k] + g[k] + weight_decay * restored[k] for k in w}
    new_w = {k: restored[k] - lr * v_next[k] for k in w}
    c = rho / (_norm(v_next) + EPS)
    return {k: new_w[k] - c * v_next[k] for k in w}, v_next
