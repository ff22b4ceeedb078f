import numpy as np

EPS = 1e-12


def global_norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    beta1, beta2 = betas
    step = t + 1
    scale = rho / (global_norm(m) + EPS)
    grads = grad_fn({k: w[k] - scale * m[k] for k in w})
    m_new, s_new, w_new = {}, {}, {}
    bc1 = 1 - beta1**step
    bc2_sqrt = np.sqrt(1 - beta2**step)
    step_size = lr * bc2_sqrt / bc1
    for k in w:
        m_new[k] = beta1 * m[k] + (1 - beta1) * grads[k]
        s_new[k] = beta2 * s[k] + (1 - beta2) * grads[k] * grads[k]
        p = w[k] - step_size * m_new[k] / (np.sqrt(s_new[k]) + eps * bc2_sqrt)
        w_new[k] = p - lr * weight_decay * p
    return w_new, m_new, s_new
