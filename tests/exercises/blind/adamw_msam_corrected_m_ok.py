"""Momentum-SAM on AdamW; perturb along the bias-corrected first moment.

Normalising removes the scalar 1 / (1 - b1^t), so the direction is that of the raw m.
"""

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    step = t + 1
    m_hat = {k: m[k] / (1 - b1**step) for k in m}
    norm = np.linalg.norm(np.concatenate([x.ravel() for x in m_hat.values()]))
    g = grad_fn({k: w[k] - rho * m_hat[k] / (norm + EPS) for k in w})
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in w}
    m_hat_next = {k: m_next[k] / (1 - b1**step) for k in w}
    s_hat_next = {k: s_next[k] / (1 - b2**step) for k in w}
    w_adam = {k: w[k] - lr * m_hat_next[k] / (np.sqrt(s_hat_next[k]) + eps) for k in w}
    w_next = {k: w_adam[k] - lr * weight_decay * w_adam[k] for k in w}
    return w_next, m_next, s_next
