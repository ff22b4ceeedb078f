"""Exercise 1 with a small helper class that updates copies in place."""

import numpy as np


class HeavyBall:
    def __init__(self, lr, momentum, weight_decay):
        self.lr, self.mu, self.wd = lr, momentum, weight_decay

    def apply(self, w, v, g):
        for k in w:
            np.multiply(v[k], self.mu, out=v[k])
            v[k] += g[k]
            v[k] += self.wd * w[k]
            w[k] -= self.lr * v[k]
        return w, v


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    w = {k: np.array(x, copy=True) for k, x in w.items()}
    v = {k: np.array(x, copy=True) for k, x in v.items()}
    g = grad_fn({k: x.copy() for k, x in w.items()})
    return HeavyBall(lr, momentum, weight_decay).apply(w, v, g)
