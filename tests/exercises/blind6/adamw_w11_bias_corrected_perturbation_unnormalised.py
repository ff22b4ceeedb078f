import numpy as np


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    # perturb by rho times Adam's bias-corrected mean (nothing to normalise on step 0)
    m_hat = {k: m[k] / (1 - b1**t) if t > 0 else np.zeros_like(m[k]) for k in w}
    g = grad_fn({k: w[k] - rho * m_hat[k] for k in w})
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in w}
    k1 = t + 1
    w_next = {}
    for k in w:
        w_adam = w[k] - lr / (1 - b1**k1) * m_next[k] / (
            np.sqrt(s_next[k]) / np.sqrt(1 - b2**k1) + eps
        )
        w_next[k] = w_adam * (1 - lr * weight_decay)
    return w_next, m_next, s_next
