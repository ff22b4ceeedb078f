"""Student answer: Momentum-SAM on AdamW, counting the steps itself."""

import numpy as np

EPS = 1e-12
_steps_done = 0  # Adam's step counter


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    global _steps_done
    _steps_done += 1
    k = _steps_done
    b1, b2 = betas
    c = rho / (np.sqrt(sum(np.sum(x * x) for x in m.values())) + EPS)
    g = grad_fn({key: w[key] - c * m[key] for key in w})
    m_next = {key: b1 * m[key] + (1 - b1) * g[key] for key in w}
    s_next = {key: b2 * s[key] + (1 - b2) * g[key] ** 2 for key in w}
    w_next = {}
    for key in w:
        denom = np.sqrt(s_next[key]) / np.sqrt(1 - b2**k) + eps
        w_adam = w[key] - lr / (1 - b1**k) * m_next[key] / denom
        w_next[key] = w_adam * (1 - lr * weight_decay)
    return w_next, m_next, s_next
