import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    n = np.sqrt(sum(float(np.sum(x**2)) for x in v.values()))
    w_tilde = {k: w[k] - rho * v[k] / (n + EPS) for k in w}
    grads = grad_fn(w_tilde)
    v_next = {k: momentum * v[k] + grads[k] + weight_decay * w_tilde[k] for k in w}
    w_next = {k: w_tilde[k] - lr * v_next[k] for k in w}
    return w_next, v_next
