import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t + 1
    c = rho / (np.sqrt(sum(np.vdot(x, x) for x in m.values())) + EPS)
    wp = {n: w[n] - c * m[n] for n in w}
    raw = grad_fn(wp)
    g = {n: raw[n] + weight_decay * wp[n] for n in w}  # L2 term in the gradient
    m_next = {n: b1 * m[n] + (1 - b1) * g[n] for n in w}
    s_next = {n: b2 * s[n] + (1 - b2) * np.square(g[n]) for n in w}
    w_next = {
        n: w[n] - lr / (1 - b1**k) * m_next[n] / (np.sqrt(s_next[n] / (1 - b2**k)) + eps) for n in w
    }
    return w_next, m_next, s_next
