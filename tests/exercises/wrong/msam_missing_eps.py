"""Wrong: u = v / ||v|| without + EPS: NaN on step 0, where v = 0."""

import numpy as np

EXERCISE, PITFALL = "msam", "missing_epsilon"


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    norm = np.sqrt(sum(np.sum(x * x) for x in v.values()))
    wp = {k: w[k] - rho * v[k] / norm for k in w}  # BUG: no + EPS
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
