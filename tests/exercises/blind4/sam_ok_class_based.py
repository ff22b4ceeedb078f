import numpy as np


class _Sam:
    def __init__(self, lr, momentum, rho, weight_decay):
        self.lr, self.mu, self.rho, self.lam = lr, momentum, rho, weight_decay

    def ascent(self, g):
        total = 0.0
        for x in g.values():
            total += np.vdot(x, x)
        return self.rho / (np.sqrt(total) + 1e-12)

    def __call__(self, w, v, grad_fn):
        g = grad_fn(w)
        c = self.ascent(g)
        g_adv = grad_fn({k: w[k] + c * g[k] for k in w})
        v_next = {k: self.mu * v[k] + (g_adv[k] + self.lam * w[k]) for k in w}
        return {k: w[k] - self.lr * v_next[k] for k in w}, v_next


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    return _Sam(lr, momentum, rho, weight_decay)(w, v, grad_fn)
