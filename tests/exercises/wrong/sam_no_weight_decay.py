"""Wrong: weight_decay is accepted and never used."""

import numpy as np

EXERCISE, PITFALL = "sam", "weight_decay_missing"


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    scale = rho / (np.sqrt(sum(np.sum(x * x) for x in g1.values())) + 1e-12)
    g2 = grad_fn({k: w[k] + scale * g1[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] for k in w}  # BUG: + weight_decay * w[k] missing
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
