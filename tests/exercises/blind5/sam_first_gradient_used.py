import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    grads = grad_fn(w)
    gnorm = np.sqrt(sum(np.sum(np.square(x)) for x in grads.values()))
    perturbed = {k: w[k] + rho * grads[k] / (gnorm + EPS) for k in w}
    sharp = grad_fn(perturbed)
    for k in sharp:
        sharp[k] = sharp[k] + weight_decay * w[k]
    v_next = {k: momentum * v[k] + grads[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
