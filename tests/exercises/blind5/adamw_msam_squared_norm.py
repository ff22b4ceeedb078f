import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t + 1
    msq = sum(np.sum(m[n] * m[n]) for n in m)
    c = rho / (msq + EPS)
    g = grad_fn({n: w[n] - c * m[n] for n in w})
    m_next = {n: b1 * m[n] + (1 - b1) * g[n] for n in w}
    s_next = {n: b2 * s[n] + (1 - b2) * g[n] ** 2 for n in w}
    upd = {
        n: lr / (1 - b1**k) * m_next[n] / (np.sqrt(s_next[n]) / np.sqrt(1 - b2**k) + eps) for n in w
    }
    return {n: (w[n] - upd[n]) * (1 - lr * weight_decay) for n in w}, m_next, s_next
