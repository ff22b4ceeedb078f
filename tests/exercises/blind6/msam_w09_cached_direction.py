import numpy as np

EPS = 1e-12
_next_direction = {}  # u_{t+1}, computed at the end of a step for the next one


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    u = {k: _next_direction.get(k, np.zeros_like(w[k])) for k in w}
    u = {k: (u[k] if u[k].shape == w[k].shape else np.zeros_like(w[k])) for k in w}
    wp = {k: w[k] - rho * u[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    n = np.sqrt(sum(np.sum(b * b) for b in v_next.values()))
    _next_direction.update({k: v_next[k] / (n + EPS) for k in w})
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
