"""Wrong: c = rho / ||m|| without + EPS: NaN on step 0, where m = 0."""

import numpy as np

EXERCISE, PITFALL = "adamw-msam", "missing_epsilon"


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    (b1, b2), k = betas, t + 1
    c = rho / np.sqrt(sum(np.sum(x * x) for x in m.values()))  # BUG: no + EPS
    g = grad_fn({key: w[key] - c * m[key] for key in w})
    m = {key: b1 * m[key] + (1 - b1) * g[key] for key in w}
    s = {key: b2 * s[key] + (1 - b2) * g[key] ** 2 for key in w}
    m_hat = {key: m[key] / (1 - b1**k) for key in w}
    s_hat = {key: s[key] / (1 - b2**k) for key in w}
    w = {key: w[key] - lr * m_hat[key] / (np.sqrt(s_hat[key]) + eps) for key in w}
    return {key: (1 - lr * weight_decay) * w[key] for key in w}, m, s
