"""Wrong: perturbed along +v (a step back) instead of -v."""

import numpy as np

EXERCISE, PITFALL = "msam", "perturbation_sign"


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    scale = rho / (np.sqrt(sum(np.sum(x * x) for x in v.values())) + 1e-12)
    wp = {k: w[k] + scale * v[k] for k in w}  # BUG: plus
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
