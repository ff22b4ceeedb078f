"""Exercise 5. Adam keeps its own step count for the bias correction."""

import numpy as np

EPS = 1e-12
_step = 0


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    global _step
    _step += 1
    b1, b2 = betas
    c = rho / (np.sqrt(sum(np.sum(x * x) for x in m.values())) + EPS)
    g = grad_fn({n: w[n] - c * m[n] for n in w})
    m_next = {n: b1 * m[n] + (1 - b1) * g[n] for n in w}
    s_next = {n: b2 * s[n] + (1 - b2) * g[n] ** 2 for n in w}
    corr1, corr2 = 1 - b1**_step, 1 - b2**_step
    w_next = {
        n: (w[n] - lr / corr1 * m_next[n] / (np.sqrt(s_next[n] / corr2) + eps))
        * (1 - lr * weight_decay)
        for n in w
    }
    return w_next, m_next, s_next
