import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    beta1, beta2 = betas
    mnorm = np.sqrt(sum(np.sum(m[n] ** 2) for n in m))
    wp = {n: w[n] - rho * m[n] / (mnorm + EPS) for n in w}
    g = grad_fn(wp)
    m_new = {n: beta1 * m[n] + (1 - beta1) * g[n] for n in w}
    s_new = {n: beta2 * s[n] + (1 - beta2) * g[n] ** 2 for n in w}
    bc1 = 1 - beta1 ** max(t, 1)
    bc2 = 1 - beta2 ** max(t, 1)
    w_new = {}
    for n in w:
        step = lr / bc1 * m_new[n] / (np.sqrt(s_new[n]) / np.sqrt(bc2) + eps)
        w_new[n] = (w[n] - step) * (1 - lr * weight_decay)
    return w_new, m_new, s_new
