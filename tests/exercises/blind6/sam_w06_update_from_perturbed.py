import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    norm = np.sqrt(sum(np.sum(x * x) for x in g.values()))
    w_adv = {k: w[k] + rho * g[k] / (norm + EPS) for k in w}  # first step: climb
    g_adv = grad_fn(w_adv)
    v_next = {k: momentum * v[k] + g_adv[k] + weight_decay * w[k] for k in w}
    w_next = {k: w_adv[k] - lr * v_next[k] for k in w}  # second step: descend
    return w_next, v_next
