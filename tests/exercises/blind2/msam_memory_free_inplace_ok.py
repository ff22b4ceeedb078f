"""Student answer: Momentum-SAM, memory-free, all in place on the arrays it is given.

w holds w~_t on entry and w~_{t+1} on return; v holds v_t, then v_{t+1}.
"""

import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    old = rho / (np.sqrt(sum(np.vdot(x, x) for x in v.values())) + EPS)
    for k in w:
        g[k] += weight_decay * w[k]  # d at the perturbed point
        w[k] += old * v[k]  # w_t
        v[k] *= momentum
        v[k] += g[k]  # v_{t+1}
        w[k] -= lr * v[k]  # w_{t+1}
    new = rho / (np.sqrt(sum(np.vdot(x, x) for x in v.values())) + EPS)
    for k in w:
        w[k] -= new * v[k]  # w~_{t+1}
    return w, v
