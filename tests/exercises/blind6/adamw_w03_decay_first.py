import numpy as np

EPS = 1e-12


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    beta1, beta2 = betas
    norm_m = np.sqrt(sum(np.sum(x * x) for x in m.values()))
    g = grad_fn({k: w[k] - rho * m[k] / (norm_m + EPS) for k in w})
    w_next, m_next, s_next = {}, {}, {}
    step = t + 1
    for k in w:
        decayed = w[k] * (1 - lr * weight_decay)  # AdamW: decoupled decay
        m_next[k] = beta1 * m[k] + (1 - beta1) * g[k]
        s_next[k] = beta2 * s[k] + (1 - beta2) * g[k] ** 2
        m_hat = m_next[k] / (1 - beta1**step)
        s_hat = s_next[k] / (1 - beta2**step)
        w_next[k] = decayed - lr * m_hat / (np.sqrt(s_hat) + eps)
    return w_next, m_next, s_next
