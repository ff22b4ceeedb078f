import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    sq = 0.0
    for b in v.values():
        sq += np.einsum("i,i->", b.ravel(), b.ravel())
    c = rho / (np.sqrt(sq) + EPS)
    probe = {}
    for k in w:
        probe[k] = v[k].copy()
        probe[k] *= -c
        probe[k] += w[k]
    g = grad_fn(probe)
    out_w, out_v = {}, {}
    for k in w:
        buf = v[k] * momentum
        buf += g[k]
        buf += weight_decay * probe[k]
        out_v[k] = buf
        out_w[k] = w[k] - lr * buf
    return out_w, out_v
