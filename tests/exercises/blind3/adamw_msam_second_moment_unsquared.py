"""A student's answer."""

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    def norm(tree):
        return np.sqrt(sum(np.sum(x * x) for x in tree.values()))

    b1, b2 = betas
    k = t + 1

    c = rho / (norm(m) + EPS)
    g = grad_fn({key: w[key] - c * m[key] for key in w})
    m_n = {key: b1 * m[key] + (1 - b1) * g[key] for key in w}
    s_n = {key: b2 * s[key] + (1 - b2) * g[key] for key in w}
    step = lr / (1 - b1**k)
    wa = {
        key: w[key] - step * m_n[key] / (np.sqrt(np.abs(s_n[key])) / np.sqrt(1 - b2**k) + eps)
        for key in w
    }
    return {key: wa[key] * (1 - lr * weight_decay) for key in w}, m_n, s_n
