import numpy as np


def _flat(tree, keys):
    return np.concatenate([np.ravel(tree[k]) for k in keys])


def _unflat(vec, like, keys):
    out, i = {}, 0
    for k in keys:
        n = like[k].size
        out[k] = vec[i : i + n].reshape(like[k].shape)
        i += n
    return out


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    keys = sorted(w)
    W, V = _flat(w, keys), _flat(v, keys)
    G = _flat(grad_fn(w), keys)
    V = momentum * V + (G + weight_decay * W)
    W = W - lr * V
    return _unflat(W, w, keys), _unflat(V, w, keys)
