import numpy as np

EPS = 1e-12


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    keys = list(w)
    shapes = [w[k].shape for k in keys]
    cuts = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]

    def flat(tree):
        return np.concatenate([tree[k].reshape(-1) for k in keys])

    def tree(vec):
        return {k: p.reshape(s) for k, p, s in zip(keys, np.split(vec, cuts), shapes)}

    x, buf = flat(w), flat(v)
    g1 = flat(grad_fn(tree(x.copy())))
    e = g1 * (rho / (np.linalg.norm(g1) + EPS))
    g2 = flat(grad_fn(tree(x + e)))
    buf = momentum * buf + (g2 + weight_decay * x)
    return tree(x - lr * buf), tree(buf)
