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
    for key in w:
        m[key] *= b1
        m[key] += (1 - b1) * g[key]
        s[key] *= b2
        s[key] += (1 - b2) * np.square(g[key])
        denom = np.sqrt(s[key]) / np.sqrt(1 - b2**k) + eps
        w[key] -= (lr / (1 - b1**k)) * m[key] / denom
        w[key] *= 1 - lr * weight_decay
    return w, m, s
