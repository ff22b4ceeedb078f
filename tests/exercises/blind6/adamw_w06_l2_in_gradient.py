import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    c = rho / (np.sqrt(sum(np.sum(x * x) for x in m.values())) + EPS)
    wp = {k: w[k] - c * m[k] for k in w}
    raw = grad_fn(wp)
    g = {k: raw[k] + weight_decay * wp[k] for k in w}  # regularised gradient
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in w}
    n = t + 1
    w_next = {
        k: w[k] - (lr / (1 - b1**n)) * m_next[k] / (np.sqrt(s_next[k]) / np.sqrt(1 - b2**n) + eps)
        for k in w
    }
    return w_next, m_next, s_next
