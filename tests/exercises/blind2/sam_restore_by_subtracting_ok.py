"""Student answer: SAM with SGD momentum, climbing in place and stepping back by -e."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    n = np.sqrt(sum(float(np.vdot(g, g)) for g in g1.values()))
    e = {k: g1[k] * rho / (n + EPS) for k in w}
    w0 = {k: w[k].copy() for k in w}  # keep w_t: subtracting e again is not exact
    for k in w:
        w[k] += e[k]
    g2 = grad_fn(w)
    for k in w:
        np.multiply(v[k], momentum, out=v[k])
        v[k] += g2[k] + weight_decay * w0[k]
    return {k: w0[k] - lr * v[k] for k in w}, v
