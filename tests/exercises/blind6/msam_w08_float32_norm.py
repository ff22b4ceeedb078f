import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    flat = np.concatenate([v[k].ravel() for k in v]).astype(np.float32)
    norm = float(np.linalg.norm(flat))
    wp = {k: w[k] - rho * v[k] / (norm + EPS) for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
