"""Wrong: weight decay taken at the perturbed point w + e instead of at w."""

import numpy as np

EXERCISE, PITFALL = "sam", "weight_decay_placement"


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    scale = rho / (np.sqrt(sum(np.sum(x * x) for x in g1.values())) + 1e-12)
    wp = {k: w[k] + scale * g1[k] for k in w}
    g2 = grad_fn(wp)
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * wp[k] for k in w}  # BUG: wp
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
