"""Wrong: no + EPS, with a Python float norm: ZeroDivisionError on step 0."""

import math

EXERCISE, PITFALL = "msam", "missing_epsilon"


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    norm = math.sqrt(sum(float((x * x).sum()) for x in v.values()))
    scale = rho / norm  # BUG: no + EPS; 0.0 raises here
    wp = {k: w[k] - scale * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
