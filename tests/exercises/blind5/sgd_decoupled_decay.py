import numpy as np


def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
    """Momentum on the loss gradient; weight decay shrinks the weights directly."""
    g = grad_fn(w)
    v_next = {name: momentum * v[name] + g[name] for name in w}
    w_next = {name: w[name] * (1.0 - lr * weight_decay) - lr * v_next[name] for name in w}
    return w_next, {name: np.copy(x) for name, x in v_next.items()}
