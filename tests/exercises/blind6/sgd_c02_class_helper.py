import numpy as np


class HeavyBall:
    """v <- mu v + (g + lambda w); w <- w - lr v, one array at a time."""

    def __init__(self, lr, momentum, weight_decay):
        self.lr, self.mu, self.lam = lr, momentum, weight_decay

    def direction(self, grad, weight):
        return grad + self.lam * weight if self.lam else grad

    def buffer(self, old, d):
        return d.copy() if self.mu == 0 else np.add(np.multiply(self.mu, old), d)

    def apply(self, weight, buf):
        return np.subtract(weight, self.lr * buf)


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    rule = HeavyBall(lr, momentum, weight_decay)
    grads = grad_fn(w)
    v_next = {k: rule.buffer(v[k], rule.direction(grads[k], w[k])) for k in w}
    return {k: rule.apply(w[k], v_next[k]) for k in w}, v_next
