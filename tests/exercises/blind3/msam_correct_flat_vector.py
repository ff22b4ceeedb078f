"""A student's answer."""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    keys = list(w)
    x = np.concatenate([np.ravel(w[k]) for k in keys])
    buf = np.concatenate([np.ravel(v[k]) for k in keys])
    xp = x - rho * buf / (np.linalg.norm(buf) + EPS)
    splits = np.cumsum([np.size(w[k]) for k in keys])[:-1]

    def unflat(z):
        return {k: p.reshape(np.shape(w[k])) for k, p in zip(keys, np.split(z, splits))}

    gk = grad_fn(unflat(xp))
    d = np.concatenate([np.ravel(gk[k]) for k in keys]) + weight_decay * xp
    x_next = x - lr * momentum * buf - lr * d
    return unflat(x_next), unflat(momentum * buf + d)
