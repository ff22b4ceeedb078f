import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    c = rho / (np.sqrt(sum(np.sum(x * x) for x in m.values())) + EPS)
    g = grad_fn({k: w[k] - c * m[k] for k in w})
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in w}
    k1 = t + 1
    w_adam = {
        k: w[k] - lr / (1 - b1**k1) * m_next[k] / (np.sqrt(s_next[k]) / np.sqrt(1 - b2**k1) + eps)
        for k in w
    }
    return {k: w_adam[k] * (1 - weight_decay) for k in w}, m_next, s_next
