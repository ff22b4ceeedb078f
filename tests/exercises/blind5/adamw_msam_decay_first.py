import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t + 1
    c = rho / (np.sqrt(sum(np.sum(x * x) for x in m.values())) + EPS)
    g = grad_fn({n: w[n] - c * m[n] for n in w})
    m_next = {n: b1 * m[n] + (1 - b1) * g[n] for n in w}
    s_next = {n: b2 * s[n] + (1 - b2) * g[n] * g[n] for n in w}
    w_next = {}
    for n in w:
        decayed = w[n] * (1 - lr * weight_decay)  # AdamW: decoupled decay
        denom = np.sqrt(s_next[n]) / np.sqrt(1 - b2**k) + eps
        w_next[n] = decayed - lr / (1 - b1**k) * m_next[n] / denom
    return w_next, m_next, s_next
