"""Reference solution: Momentum-SAM on AdamW (exercises/05_adamw_msam.ipynb)."""

import numpy as np

EPS = 1e-12


def global_norm(tree):
    """The L2 norm of all arrays of a dict together."""
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    """One AdamW-MSAM step on dicts of arrays; returns ``(w_next, m_next, s_next)``.

    wp = w - rho m / (||m|| + EPS);  g = g(wp);  m, s <- Adam moments with g;
    w_adam = w - (lr / (1 - b1^k)) m / (sqrt(s) / sqrt(1 - b2^k) + eps), k = t + 1;
    w_next = w_adam (1 - lr weight_decay)
    """
    b1, b2 = betas
    k = t + 1
    c = rho / (global_norm(m) + EPS)
    g = grad_fn({key: w[key] - c * m[key] for key in w})
    m_next = {key: b1 * m[key] + (1 - b1) * g[key] for key in w}
    s_next = {key: b2 * s[key] + (1 - b2) * g[key] ** 2 for key in w}
    step_size, bias2 = lr / (1 - b1**k), np.sqrt(1 - b2**k)
    w_adam = {
        key: w[key] - step_size * m_next[key] / (np.sqrt(s_next[key]) / bias2 + eps) for key in w
    }
    w_next = {key: (1 - lr * weight_decay) * w_adam[key] for key in w}
    return w_next, m_next, s_next
