"""Wrong: weight decay taken at w instead of at the perturbed point."""

import numpy as np

EXERCISE, PITFALL = "msam", "weight_decay_placement"


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    scale = rho / (np.sqrt(sum(np.sum(x * x) for x in v.values())) + 1e-12)
    wp = {k: w[k] - scale * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}  # BUG: w, not wp
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
