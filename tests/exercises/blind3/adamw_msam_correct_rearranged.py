"""A student's answer."""

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    def norm(tree):
        return np.sqrt(sum(np.sum(x * x) for x in tree.values()))

    b1, b2 = betas
    k = t + 1

    scale = rho / (norm(m) + EPS)
    g = grad_fn({key: w[key] - scale * m[key] for key in w})
    m_n = {key: b1 * m[key] + (1 - b1) * g[key] for key in w}
    s_n = {key: b2 * s[key] + (1 - b2) * g[key] * g[key] for key in w}
    root = np.sqrt(1 - b2**k)
    alpha = lr * root / (1 - b1**k)
    w_next = {
        key: (1 - lr * weight_decay)
        * (w[key] - alpha * m_n[key] / (np.sqrt(s_n[key]) + eps * root))
        for key in w
    }
    return w_next, m_n, s_n
