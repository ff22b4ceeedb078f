import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    b1, b2 = betas
    # perturb along the direction Adam would actually move: m / (sqrt(s) + eps)
    direction = {k: m[k] / (np.sqrt(s[k]) + eps) for k in w}
    n = np.sqrt(sum(np.sum(x * x) for x in direction.values()))
    wp = {k: w[k] - rho * direction[k] / (n + EPS) for k in w}
    g = grad_fn(wp)
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] * g[k] for k in w}
    k1 = t + 1
    w_adam = {
        k: w[k] - lr / (1 - b1**k1) * m_next[k] / (np.sqrt(s_next[k] / (1 - b2**k1)) + eps)
        for k in w
    }
    return {k: (1 - lr * weight_decay) * w_adam[k] for k in w}, m_next, s_next
