import numpy as np


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    keys = list(w)
    sizes = np.cumsum([w[k].size for k in keys])[:-1]
    W = np.concatenate([w[k].ravel() for k in keys])
    V = np.concatenate([v[k].ravel() for k in keys])
    Wp = W - rho * V / (np.linalg.norm(V) + 1e-12)
    wp = {k: x.reshape(w[k].shape) for k, x in zip(keys, np.split(Wp, sizes))}
    grads = grad_fn(wp)
    G = np.concatenate([grads[k].ravel() for k in keys])
    V = momentum * V + G + weight_decay * Wp
    W = W - lr * V
    unflat = lambda X: {k: x.reshape(w[k].shape) for k, x in zip(keys, np.split(X, sizes))}  # noqa: E731
    return unflat(W), unflat(V)
