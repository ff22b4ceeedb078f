"""Wrong: returns the momentum it was given, so every step starts from v = 0."""

import numpy as np

EXERCISE, PITFALL = "sam", "momentum_not_carried"


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    scale = rho / (np.sqrt(sum(np.sum(x * x) for x in g1.values())) + 1e-12)
    g2 = grad_fn({k: w[k] + scale * g1[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v  # BUG: v, not v_next
