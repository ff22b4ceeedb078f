"""Student answer: SGD with momentum on one flat vector."""

import numpy as np


def flatten(tree):
    return np.concatenate([tree[k].ravel() for k in sorted(tree)])


def unflatten(flat, like):
    out, i = {}, 0
    for k, x in like.items():
        out[k] = flat[i : i + x.size].reshape(x.shape)
        i += x.size
    return out


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    wf, vf = flatten(w), flatten(v)
    gf = flatten(grad_fn(w))
    vf = momentum * vf + gf + weight_decay * wf
    wf = wf - lr * vf
    return unflatten(wf, w), unflatten(vf, w)
