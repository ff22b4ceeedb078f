"""Momentum-SAM on AdamW, in place on copies."""

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    n = t + 1
    c = rho / (np.sqrt(sum(np.vdot(x, x) for x in m.values())) + EPS)
    wp = {k: np.copy(w[k]) for k in w}
    for k in wp:
        wp[k] -= c * m[k]
    g = grad_fn(wp)
    m_next, s_next, w_next = {}, {}, {}
    for k in w:
        m_next[k] = np.copy(m[k])
        m_next[k] *= b1
        m_next[k] += (1 - b1) * g[k]
        s_next[k] = np.copy(s[k])
        s_next[k] *= b2
        s_next[k] += (1 - b2) * np.square(g[k])
        w_next[k] = np.copy(w[k])
        denom = np.sqrt(s_next[k]) / np.sqrt(1 - b2**n) + eps
        w_next[k] -= (lr / (1 - b1**n)) * m_next[k] / denom
        w_next[k] *= 1 - lr * weight_decay
    return w_next, m_next, s_next
