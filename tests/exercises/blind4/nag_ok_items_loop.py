import numpy as np


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    lookahead = {}
    for name, param in w.items():
        lookahead[name] = np.subtract(param, (lr * momentum) * v[name])
    grads = grad_fn(lookahead)
    w_next, v_next = {}, {}
    for name, param in w.items():
        d = np.add(grads[name], weight_decay * lookahead[name])
        v_next[name] = np.add(momentum * v[name], d)
        w_next[name] = np.subtract(param, lr * v_next[name])
    return w_next, v_next
