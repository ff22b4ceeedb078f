import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    norm_v = np.linalg.norm(np.concatenate([x.ravel() for x in v.values()]))
    u = {k: v[k] / (norm_v + EPS) for k in v}
    g = grad_fn({k: w[k] - rho * u[k] for k in w})
    # weight decay belongs to the weights, not to the probe point
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
