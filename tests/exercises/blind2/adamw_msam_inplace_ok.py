"""Student answer: Momentum-SAM on AdamW, moments updated in place with numpy's out=."""

import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    norm = np.sqrt(sum(float(np.sum(np.square(x))) for x in m.values()))
    c = rho / (norm + EPS)
    g = grad_fn({k: w[k] - c * m[k] for k in w})
    k_ = t + 1
    a = lr / (1 - b1**k_)
    r = np.sqrt(1 - b2**k_)
    for k in w:
        np.multiply(m[k], b1, out=m[k])
        m[k] += (1 - b1) * g[k]
        np.multiply(s[k], b2, out=s[k])
        s[k] += (1 - b2) * g[k] * g[k]
        w[k] -= a * m[k] / (np.sqrt(s[k]) / r + eps)
        w[k] *= 1 - lr * weight_decay
    return w, m, s
