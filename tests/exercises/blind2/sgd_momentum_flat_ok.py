"""Student answer: SGD with momentum on one flat vector (keys kept in order)."""

import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    keys = list(w)
    sizes = [w[k].size for k in keys]
    cuts = np.cumsum(sizes)[:-1]
    flat = lambda tree: np.concatenate([np.ravel(tree[k]) for k in keys])  # noqa: E731
    g = grad_fn(w)
    wf, vf, gf = flat(w), flat(v), flat(g)
    vf = momentum * vf + (gf + weight_decay * wf)
    wf = wf - lr * vf
    unflat = lambda f: {k: p.reshape(w[k].shape) for k, p in zip(keys, np.split(f, cuts))}  # noqa: E731
    return unflat(wf), unflat(vf)
