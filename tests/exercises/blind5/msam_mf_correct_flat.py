import numpy as np

EPS = 1e-12


class Flat:
    """A dict of arrays as one vector, and back."""

    def __init__(self, like):
        self.keys = list(like)
        self.shapes = [like[k].shape for k in self.keys]
        self.cuts = np.cumsum([like[k].size for k in self.keys])[:-1]

    def pack(self, tree):
        return np.concatenate([np.ravel(tree[k]) for k in self.keys])

    def unpack(self, x):
        parts = np.split(x, self.cuts)
        return {k: p.reshape(s).copy() for k, s, p in zip(self.keys, self.shapes, parts)}


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    f = Flat(w)
    x_tilde, buf = f.pack(w), f.pack(v)
    d = f.pack(grad_fn(f.unpack(x_tilde))) + weight_decay * x_tilde
    x = x_tilde + rho * buf / (np.linalg.norm(buf) + EPS)
    buf = momentum * buf + d
    x -= lr * buf
    x -= rho * buf / (np.linalg.norm(buf) + EPS)
    return f.unpack(x), f.unpack(buf)
