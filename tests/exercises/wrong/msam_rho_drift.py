"""Wrong: the official code's memory-free bookkeeping, in step form (rho drift).

The perturbation of step t is set up at the end of step t-1 with that step's rho (kept
here in a module variable), and removed with step t's rho: under a rho schedule the
weights shift by (rho_t - rho_{t-1}) v / ||v|| on every step.
"""

import numpy as np

EXERCISE, PITFALL = "msam", "rho_drift"
_rho_applied = [0.0]


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    u = {k: x / (np.sqrt(sum(np.sum(y * y) for y in v.values())) + 1e-12) for k, x in v.items()}
    wp = {k: w[k] - _rho_applied[0] * u[k] for k in w}  # perturbed with the previous rho
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    w_back = {k: wp[k] + rho * u[k] for k in w}  # BUG: undone with the current rho
    _rho_applied[0] = rho
    return {k: w_back[k] - lr * v_next[k] for k in w}, v_next
