import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    c = rho / (global_norm(m) + EPS)
    g = grad_fn({k: w[k] - c * m[k] for k in w})
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in w}
    step = max(t, 1)
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    w_next = {}
    for k in w:
        w_adam = w[k] - lr / bc1 * m_next[k] / (np.sqrt(s_next[k] / bc2) + eps)
        w_next[k] = w_adam * (1 - lr * weight_decay)
    return w_next, m_next, s_next
