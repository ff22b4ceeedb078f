"""Wrong: the gradient (and decay) taken at w, not at the perturbed point: momentum SGD."""

EXERCISE, PITFALL = "msam", "no_perturbation"


def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)  # BUG: at w, not at w - rho v / (||v|| + EPS)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return w_next, v_next
