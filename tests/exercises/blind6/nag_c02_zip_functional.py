import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    names = list(w)
    ws = [np.asarray(w[n], dtype=np.float64) for n in names]
    vs = [np.asarray(v[n], dtype=np.float64) for n in names]
    ahead = [x - (lr * momentum) * b for x, b in zip(ws, vs)]
    grads = grad_fn(dict(zip(names, ahead)))
    new_v = [momentum * b + grads[n] + weight_decay * p for n, b, p in zip(names, vs, ahead)]
    new_w = [x - lr * b for x, b in zip(ws, new_v)]
    return dict(zip(names, new_w)), dict(zip(names, new_v))
