import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    mnorm = np.sqrt(sum(np.sum(x * x) for x in m.values()))
    wp = {k: w[k] - rho * m[k] / (mnorm + EPS) for k in w}
    g = grad_fn(wp)
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in w}
    step = max(t, 1)  # t counts from 0; bias correction needs a positive count
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    w_adam = {k: w[k] - lr / bc1 * m_next[k] / (np.sqrt(s_next[k]) / np.sqrt(bc2) + eps) for k in w}
    return {k: w_adam[k] * (1 - lr * weight_decay) for k in w}, m_next, s_next
