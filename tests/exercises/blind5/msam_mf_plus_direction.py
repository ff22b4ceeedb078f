import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    # w is the perturbed point w + rho * v / |v| (perturbation along the momentum)
    g = grad_fn(w)
    nv = np.sqrt(sum(np.sum(x * x) for x in v.values()))
    base = {k: w[k] - rho * v[k] / (nv + EPS) for k in w}
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    base = {k: base[k] - lr * v_next[k] for k in w}
    nv = np.sqrt(sum(np.sum(x * x) for x in v_next.values()))
    return {k: base[k] + rho * v_next[k] / (nv + EPS) for k in w}, v_next
