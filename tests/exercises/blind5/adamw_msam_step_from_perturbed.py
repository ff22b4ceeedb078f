import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    k = t + 1
    c = rho / (np.sqrt(sum(np.sum(x * x) for x in m.values())) + EPS)
    for n in w:
        w[n] = w[n] - c * m[n]  # go to the perturbed point
    g = grad_fn(w)
    m_next = {n: b1 * m[n] + (1 - b1) * g[n] for n in w}
    s_next = {n: b2 * s[n] + (1 - b2) * g[n] ** 2 for n in w}
    bias1, bias2 = 1 - b1**k, np.sqrt(1 - b2**k)
    w_next = {
        n: (w[n] - lr / bias1 * m_next[n] / (np.sqrt(s_next[n]) / bias2 + eps))
        * (1 - lr * weight_decay)
        for n in w
    }
    return w_next, m_next, s_next
