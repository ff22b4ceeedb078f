import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    # w already sits at the perturbed point: take the gradient, step, perturb again
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    n = np.sqrt(sum(np.sum(b * b) for b in v_next.values()))
    return {k: w_next[k] - rho * v_next[k] / (n + EPS) for k in w}, v_next
