import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    c = rho / (np.sqrt(sum(np.sum(x * x) for x in m.values())) + EPS)
    g = grad_fn({k: w[k] - c * m[k] for k in w})
    m1 = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s1 = {k: b2 * s[k] + (1 - b2) * np.square(g[k]) for k in w}
    k_ = t + 1
    out = {}
    for k in w:
        mhat = m1[k] / (1 - b1**k_)
        shat = s1[k] / (1 - b2**k_)
        out[k] = (w[k] - lr * mhat / np.sqrt(shat + eps)) * (1 - lr * weight_decay)
    return out, m1, s1
