"""AdamW-MSAM with the step size folded as in torch: lr sqrt(1-b2^k)/(1-b1^k) m/(sqrt(s)+eps')."""

import math

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t + 1
    m_norm = math.sqrt(sum(float(np.vdot(x, x)) for x in m.values()))
    c = rho / (m_norm + EPS)
    g = grad_fn({n: w[n] - c * m[n] for n in w})
    m_next = {n: b1 * m[n] + (1 - b1) * g[n] for n in w}
    s_next = {n: b2 * s[n] + (1 - b2) * g[n] * g[n] for n in w}
    root2 = math.sqrt(1 - b2**k)
    step_size = lr * root2 / (1 - b1**k)
    # m_hat / (sqrt(s_hat) + eps) == sqrt(1-b2^k)/(1-b1^k) * m / (sqrt(s) + eps sqrt(1-b2^k))
    w_next = {
        n: (w[n] - step_size * m_next[n] / (np.sqrt(s_next[n]) + eps * root2))
        * (1 - lr * weight_decay)
        for n in w
    }
    return w_next, m_next, s_next
