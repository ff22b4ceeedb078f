"""Student answer: Momentum-SAM on AdamW."""

import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t  # the step number
    c = rho / (global_norm(m) + EPS)
    wp = {key: w[key] - c * m[key] for key in w}
    g = grad_fn(wp)
    m_next = {key: b1 * m[key] + (1 - b1) * g[key] for key in w}
    s_next = {key: b2 * s[key] + (1 - b2) * g[key] ** 2 for key in w}
    step = lr / (1 - b1**k)
    w_adam = {
        key: w[key] - step * m_next[key] / (np.sqrt(s_next[key]) / np.sqrt(1 - b2**k) + eps)
        for key in w
    }
    w_next = {key: w_adam[key] * (1 - lr * weight_decay) for key in w}
    return w_next, m_next, s_next
