import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    # like NAG, the look-ahead is a step of the optimizer: scale it by the learning rate
    vnorm = np.sqrt(sum(np.sum(b * b) for b in v.values()))
    wp = {k: w[k] - lr * rho * v[k] / (vnorm + EPS) for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
