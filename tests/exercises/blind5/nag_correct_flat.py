import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    names = list(w)
    sizes = [w[k].size for k in names]
    cuts = np.cumsum(sizes)[:-1]

    def flat(tree):
        return np.concatenate([tree[k].reshape(-1) for k in names])

    def tree(vec):
        return {k: p.reshape(w[k].shape) for k, p in zip(names, np.split(vec, cuts))}

    x, buf = flat(w), flat(v)
    ahead = x - lr * momentum * buf
    d = flat(grad_fn(tree(ahead.copy()))) + weight_decay * ahead
    buf = momentum * buf + d
    x = x - lr * buf
    return tree(x), tree(buf)
