import math

import numpy as np


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k1 = t + 1
    norm_m = math.sqrt(math.fsum(float(x) for a in m.values() for x in np.ravel(a * a)))
    c = rho / (norm_m + 1e-12)
    g = grad_fn({k: w[k] - c * m[k] for k in w})
    m_next = {k: m[k] + (1 - b1) * (g[k] - m[k]) for k in w}
    s_next = {k: s[k] + (1 - b2) * (g[k] * g[k] - s[k]) for k in w}
    out = {}
    for k in w:
        m_hat = m_next[k] / (1 - b1**k1)
        s_hat = s_next[k] / (1 - b2**k1)
        out[k] = (w[k] - lr * m_hat / (np.sqrt(s_hat) + eps)) * (1 - lr * weight_decay)
    return out, m_next, s_next
