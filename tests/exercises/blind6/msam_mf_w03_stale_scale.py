import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    scale = rho / (np.sqrt(sum(np.sum(b * b) for b in v.values())) + EPS)
    v_next, w_next = {}, {}
    for k in w:
        v_next[k] = momentum * v[k] + g[k] + weight_decay * w[k]
        unperturbed = w[k] + scale * v[k]
        # same scale for taking the perturbation off and putting the next one on
        w_next[k] = unperturbed - lr * v_next[k] - scale * v_next[k]
    return w_next, v_next
