"""Wrong: the decoupled decay before the Adam step (AdamW's order), not after it."""

import numpy as np

EXERCISE, PITFALL = "adamw-msam", "weight_decay_placement"


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    (b1, b2), k = betas, t + 1
    c = rho / (np.sqrt(sum(np.sum(x * x) for x in m.values())) + 1e-12)
    g = grad_fn({key: w[key] - c * m[key] for key in w})
    m = {key: b1 * m[key] + (1 - b1) * g[key] for key in w}
    s = {key: b2 * s[key] + (1 - b2) * g[key] ** 2 for key in w}
    w = {key: (1 - lr * weight_decay) * w[key] for key in w}  # BUG: decay first
    m_hat = {key: m[key] / (1 - b1**k) for key in w}
    s_hat = {key: s[key] / (1 - b2**k) for key in w}
    return {key: w[key] - lr * m_hat[key] / (np.sqrt(s_hat[key]) + eps) for key in w}, m, s
