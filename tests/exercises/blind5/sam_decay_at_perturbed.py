import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    n = np.sqrt(sum(np.sum(x * x) for x in g.values()))
    w_adv = {k: w[k] + rho * g[k] / (n + EPS) for k in w}
    g_adv = grad_fn(w_adv)
    # gradient of loss + wd/2 ||w||^2, both evaluated at the adversarial point
    d = {k: g_adv[k] + weight_decay * w_adv[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
