import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t + 1
    m_norm = np.sqrt(sum(np.sum(x * x) for x in m.values()))
    c = rho / (m_norm + EPS)
    g = grad_fn({n: w[n] - c * m[n] for n in w})
    keep = 1.0 - lr * weight_decay
    w_next, m_next, s_next = {}, {}, {}
    for n in w:
        m_next[n] = m[n] + (1 - b1) * (g[n] - m[n])  # = b1 m + (1 - b1) g
        s_next[n] = s[n] + (1 - b2) * (g[n] * g[n] - s[n])
        m_hat = m_next[n] / (1 - b1**k)
        s_hat = s_next[n] / (1 - b2**k)
        w_next[n] = keep * w[n] - keep * lr * m_hat / (np.sqrt(s_hat) + eps)
    return w_next, m_next, s_next
