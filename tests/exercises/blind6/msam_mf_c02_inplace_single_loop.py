import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    """Memory-free MSAM, written the way the official code does it, all in place."""
    g = grad_fn(w)
    old_scale = rho / (np.sqrt(sum((b**2).sum() for b in v.values())) + EPS)
    for k in w:
        d = g[k] + weight_decay * w[k]
        w[k] += old_scale * v[k]  # back to the unperturbed weights
        v[k] *= momentum
        v[k] += d
        w[k] -= lr * v[k]
    new_scale = rho / (np.sqrt(sum((b**2).sum() for b in v.values())) + EPS)
    for k in w:
        w[k] -= new_scale * v[k]  # ascend along -v for the next step
    return w, v
