"""Student answer: Momentum-SAM on AdamW, with the bias-corrected moments m^ and s^.

m^ / (sqrt(s^) + eps) with m^ = m / (1 - b1^k), s^ = s / (1 - b2^k) is the same step;
the decay is written as w - lr lam w.
"""

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    beta1, beta2 = betas
    step_number = t + 1
    m_len = np.linalg.norm(np.concatenate([x.ravel() for x in m.values()]))
    g = grad_fn({k: w[k] - rho * m[k] / (m_len + EPS) for k in w})
    m_new, s_new, w_new = {}, {}, {}
    for k in w:
        m_new[k] = beta1 * m[k] + (1.0 - beta1) * g[k]
        s_new[k] = beta2 * s[k] + (1.0 - beta2) * np.square(g[k])
        m_hat = m_new[k] / (1.0 - beta1**step_number)
        s_hat = s_new[k] / (1.0 - beta2**step_number)
        w_adam = w[k] - lr * m_hat / (np.sqrt(s_hat) + eps)
        w_new[k] = w_adam - lr * weight_decay * w_adam
    return w_new, m_new, s_new
