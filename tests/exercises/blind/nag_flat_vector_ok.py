"""Nesterov momentum on one flat vector of all parameters."""

import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    keys = list(w)
    shapes = [w[k].shape for k in keys]
    sizes = [w[k].size for k in keys]

    def flat(tree):
        return np.concatenate([np.ravel(tree[k]) for k in keys])

    def unflat(x):
        parts = np.split(x, np.cumsum(sizes)[:-1])
        return {k: p.reshape(s) for k, p, s in zip(keys, parts, shapes)}

    wf, vf = flat(w), flat(v)
    af = wf - lr * momentum * vf
    d = flat(grad_fn(unflat(af))) + weight_decay * af
    v_next = momentum * vf + d
    return unflat(wf - lr * v_next), unflat(v_next)
