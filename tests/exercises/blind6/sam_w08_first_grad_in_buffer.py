import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    grads = grad_fn(w)
    norm = np.sqrt(sum(np.sum(x * x) for x in grads.values()))
    w_adv = {k: w[k] + rho * grads[k] / (norm + EPS) for k in w}
    sam_grads = grad_fn(w_adv)
    v_next = {k: momentum * v[k] + grads[k] + weight_decay * w[k] for k in sam_grads}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
