import numpy as np

EPS = 1e-12


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    """Memory-free MSAM: w holds the perturbed weights (Algorithm 1)."""
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    scale = rho / (np.sqrt(sum(np.sum(x * x) for x in v_next.values())) + EPS)
    return {k: w_next[k] - scale * v_next[k] for k in w}, v_next
