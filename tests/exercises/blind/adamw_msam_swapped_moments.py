"""Momentum-SAM on AdamW."""

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k1 = t + 1
    norm = np.sqrt(sum(np.sum(x * x) for x in m.values()))
    g = grad_fn({k: w[k] - rho * m[k] / (norm + EPS) for k in w})
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in w}
    denom = {k: np.sqrt(s_next[k]) / np.sqrt(1 - b2**k1) + eps for k in w}
    w_adam = {k: w[k] - lr / (1 - b1**k1) * m_next[k] / denom[k] for k in w}
    w_next = {k: w_adam[k] * (1 - lr * weight_decay) for k in w}
    return w_next, s_next, m_next
