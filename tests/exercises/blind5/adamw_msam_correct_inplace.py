import numpy as np

EPS = 1e-12


class MomentSAM:
    def __init__(self, betas, eps, rho):
        self.b1, self.b2 = betas
        self.eps, self.rho = eps, rho

    def probe(self, w, m):
        n = np.sqrt(np.sum([np.sum(x**2) for x in m.values()]))
        scale = self.rho / (n + EPS)
        p = {k: x.copy() for k, x in w.items()}
        for k in p:
            p[k] -= scale * m[k]
        return p

    def update(self, w, m, s, g, k, lr, weight_decay):
        for n in w:
            m[n] *= self.b1
            m[n] += (1 - self.b1) * g[n]
            s[n] *= self.b2
            s[n] += (1 - self.b2) * g[n] ** 2
            denom = np.sqrt(s[n])
            denom /= np.sqrt(1 - self.b2**k)
            denom += self.eps
            w[n] -= (lr / (1 - self.b1**k)) * m[n] / denom
            w[n] *= 1 - lr * weight_decay
        return w, m, s


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    opt = MomentSAM(betas, eps, rho)
    w, m, s = ({k: x.copy() for k, x in d.items()} for d in (w, m, s))
    g = grad_fn(opt.probe(w, m))
    return opt.update(w, m, s, g, t + 1, lr, weight_decay)
