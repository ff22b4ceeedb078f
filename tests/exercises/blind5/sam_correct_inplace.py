"""SAM with in-place arithmetic on private copies."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    w = {k: x.copy() for k, x in w.items()}
    v = {k: x.copy() for k, x in v.items()}
    g = grad_fn({k: x.copy() for k, x in w.items()})
    scale = rho / (np.sqrt(sum(np.vdot(x, x) for x in g.values())) + EPS)
    probe = {k: x.copy() for k, x in w.items()}
    for k in probe:
        probe[k] += scale * g[k]
    g2 = grad_fn(probe)
    for k in w:
        v[k] *= momentum
        v[k] += g2[k]
        v[k] += weight_decay * w[k]
        w[k] -= lr * v[k]
    return w, v
