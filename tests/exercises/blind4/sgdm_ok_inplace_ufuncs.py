import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    grads = grad_fn(w)
    w_next, v_next = {}, {}
    for name, p in w.items():
        d = np.array(grads[name], copy=True)
        if weight_decay != 0:
            d += weight_decay * p
        buf = np.array(v[name], copy=True)
        np.multiply(buf, momentum, out=buf)
        np.add(buf, d, out=buf)
        q = np.array(p, copy=True)
        q -= lr * buf
        w_next[name], v_next[name] = q, buf
    return w_next, v_next
