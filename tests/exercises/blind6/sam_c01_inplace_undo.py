import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    scale = rho / (np.sqrt(sum(np.sum(g * g) for g in g1.values())) + EPS)
    e = {k: scale * g1[k] for k in w}
    for k in w:  # climb in place ...
        w[k] += e[k]
    g2 = grad_fn(w)
    for k in w:  # ... and climb back down
        w[k] -= e[k]
    for k in v:
        v[k] *= momentum
        v[k] += g2[k] + weight_decay * w[k]
    return {k: w[k] - lr * v[k] for k in w}, {k: v[k].copy() for k in v}
