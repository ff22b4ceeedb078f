"""Student answer: NAG; the buffer is decayed in place first, then used for the look-ahead."""


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    for k in v:
        v[k] *= momentum  # now v holds mu v_t
    a = {k: w[k] - lr * v[k] for k in w}
    g = grad_fn(a)
    for k in v:
        v[k] += g[k] + weight_decay * a[k]  # v_{t+1} = mu v_t + d
    return {k: w[k] - lr * v[k] for k in w}, v
