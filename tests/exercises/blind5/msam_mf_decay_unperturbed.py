import numpy as np

EPS = 1e-12


def norm(tree):
    return float(np.sqrt(sum(np.sum(a * a) for a in tree.values())))


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    """The params held are the perturbed point; returns the next perturbed point."""
    g = grad_fn(w)
    w_true = {k: w[k] + rho / (norm(v) + EPS) * v[k] for k in w}
    # decay the true weights
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w_true[k] for k in w}
    w_true = {k: w_true[k] - lr * v_next[k] for k in w}
    c = rho / (norm(v_next) + EPS)
    return {k: w_true[k] - c * v_next[k] for k in w}, v_next
