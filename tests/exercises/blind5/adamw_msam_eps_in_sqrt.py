import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t + 1
    nm = np.sqrt(sum(np.sum(x * x) for x in m.values()))
    g = grad_fn({n: w[n] - rho * m[n] / (nm + EPS) for n in w})
    m_next = {n: b1 * m[n] + (1 - b1) * g[n] for n in w}
    s_next = {n: b2 * s[n] + (1 - b2) * g[n] ** 2 for n in w}
    w_next = {}
    for n in w:
        m_hat = m_next[n] / (1 - b1**k)
        s_hat = s_next[n] / (1 - b2**k)
        w_next[n] = (w[n] - lr * m_hat / np.sqrt(s_hat + eps)) * (1 - lr * weight_decay)
    return w_next, m_next, s_next
