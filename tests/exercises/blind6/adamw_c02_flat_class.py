import numpy as np

EPS = 1e-12


class Flat:
    """All arrays of a dict as one vector, and back."""

    def __init__(self, like):
        self.keys = list(like)
        self.shapes = [like[k].shape for k in self.keys]
        self.sizes = [like[k].size for k in self.keys]

    def pack(self, tree):
        return np.concatenate([np.asarray(tree[k], dtype=np.float64).ravel() for k in self.keys])

    def unpack(self, vec):
        out, i = {}, 0
        for k, shape, n in zip(self.keys, self.shapes, self.sizes):
            out[k] = vec[i : i + n].reshape(shape).copy()
            i += n
        return out


def adamw_msam_step(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    f = Flat(w)
    x, mv, sv = f.pack(w), f.pack(m), f.pack(s)
    beta1, beta2 = float(betas[0]), float(betas[1])
    xp = x - (rho / (np.linalg.norm(mv) + EPS)) * mv
    g = f.pack(grad_fn(f.unpack(xp)))
    mv = beta1 * mv + (1.0 - beta1) * g
    sv = beta2 * sv + (1.0 - beta2) * g**2
    step = t + 1
    alpha = lr * np.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)
    # eps scaled to match: m / (sqrt(s)/sqrt(bc2) + eps) = sqrt(bc2) m / (sqrt(s) + eps sqrt(bc2))
    x = x - alpha * mv / (np.sqrt(sv) + eps * np.sqrt(1.0 - beta2**step))
    x = x * (1.0 - lr * weight_decay)
    return f.unpack(x), f.unpack(mv), f.unpack(sv)
