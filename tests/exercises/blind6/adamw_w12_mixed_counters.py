import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    c = rho / (np.sqrt(sum(np.sum(x * x) for x in m.values())) + EPS)
    g = grad_fn({k: w[k] - c * m[k] for k in w})
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in w}
    bias1 = 1 - b1 ** (t + 1)
    bias2 = 1 - b2**t  # t is the number of squared gradients seen before this one
    w_next = {}
    for k in w:
        s_hat = s_next[k] / bias2 if bias2 > 0 else s_next[k]
        w_adam = w[k] - lr * (m_next[k] / bias1) / (np.sqrt(s_hat) + eps)
        w_next[k] = w_adam * (1 - lr * weight_decay)
    return w_next, m_next, s_next
