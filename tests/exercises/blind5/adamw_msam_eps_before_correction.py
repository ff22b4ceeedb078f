"""AdamW-MSAM with the efficient form of the bias correction (Kingma & Ba, Sec. 2)."""

import math

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t + 1
    c = rho / (math.sqrt(sum(float(np.sum(x * x)) for x in m.values())) + EPS)
    g = grad_fn({n: w[n] - c * m[n] for n in w})
    m_next = {n: b1 * m[n] + (1 - b1) * g[n] for n in w}
    s_next = {n: b2 * s[n] + (1 - b2) * g[n] ** 2 for n in w}
    alpha = lr * math.sqrt(1 - b2**k) / (1 - b1**k)
    w_next = {
        n: (w[n] - alpha * m_next[n] / (np.sqrt(s_next[n]) + eps)) * (1 - lr * weight_decay)
        for n in w
    }
    return w_next, m_next, s_next
