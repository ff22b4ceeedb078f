"""Exercise 5: perturb along the direction Adam actually moves (m / sqrt(s))."""

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t + 1
    direction = {n: m[n] / (np.sqrt(s[n]) + eps) for n in w}
    dn = np.sqrt(sum(np.sum(x * x) for x in direction.values()))
    wp = {n: w[n] - rho * direction[n] / (dn + EPS) for n in w}
    g = grad_fn(wp)
    m_next = {n: b1 * m[n] + (1 - b1) * g[n] for n in w}
    s_next = {n: b2 * s[n] + (1 - b2) * g[n] ** 2 for n in w}
    m_hat = {n: m_next[n] / (1 - b1**k) for n in w}
    s_hat = {n: s_next[n] / (1 - b2**k) for n in w}
    w_adam = {n: w[n] - lr * m_hat[n] / (np.sqrt(s_hat[n]) + eps) for n in w}
    return {n: w_adam[n] * (1 - lr * weight_decay) for n in w}, m_next, s_next
