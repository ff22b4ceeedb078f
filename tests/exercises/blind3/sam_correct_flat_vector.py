"""A student's answer."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    keys = list(w)

    def flat(tree):
        return np.concatenate([np.ravel(tree[k]) for k in keys])

    def unflat(x):
        out, i = {}, 0
        for k in keys:
            n = np.size(w[k])
            out[k] = x[i : i + n].reshape(np.shape(w[k]))
            i += n
        return out

    x, buf = flat(w), flat(v)
    g1 = flat(grad_fn(w))
    e = rho * g1 / (np.linalg.norm(g1) + EPS)
    g2 = flat(grad_fn(unflat(x + e)))
    buf = momentum * buf + g2 + weight_decay * x
    return unflat(x - lr * buf), unflat(buf)
