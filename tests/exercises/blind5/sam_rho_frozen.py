"""SAM; rho is a hyperparameter of the optimizer, fixed when it is set up."""

import numpy as np

EPS = 1e-12
_config = {}


def sam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    if "rho" not in _config:
        _config["rho"] = rho
    radius = _config["rho"]
    g = grad_fn(w)
    norm = np.sqrt(sum(np.sum(x * x) for x in g.values()))
    g2 = grad_fn({k: w[k] + radius * g[k] / (norm + EPS) for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
