"""Student answer: SAM with SGD momentum on one flat vector."""

import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    keys = list(w)
    cuts = np.cumsum([w[k].size for k in keys])[:-1]

    def flat(tree):
        return np.concatenate([tree[k].reshape(-1) for k in keys])

    def tree(vec):
        return {k: part.reshape(w[k].shape) for k, part in zip(keys, np.split(vec, cuts))}

    wf, vf = flat(w), flat(v)
    g1 = flat(grad_fn(tree(wf)))
    e = g1 * (rho / (np.linalg.norm(g1) + EPS))
    g2 = flat(grad_fn(tree(wf + e)))
    vf = momentum * vf + g2 + weight_decay * wf
    return tree(wf - lr * vf), tree(vf)
