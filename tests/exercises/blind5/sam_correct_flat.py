import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    keys = list(w)
    shapes = [w[k].shape for k in keys]
    split = np.cumsum([w[k].size for k in keys])[:-1]

    def pack(tree):
        return np.concatenate([np.asarray(tree[k]).ravel() for k in keys])

    def unpack(x):
        return {k: p.reshape(s).copy() for k, s, p in zip(keys, shapes, np.split(x, split))}

    x, buf = pack(w), pack(v)
    g1 = pack(grad_fn(unpack(x)))
    e = (rho / (np.linalg.norm(g1) + EPS)) * g1
    g2 = pack(grad_fn(unpack(x + e)))
    buf = momentum * buf + g2 + weight_decay * x
    return unpack(x - lr * buf), unpack(buf)
