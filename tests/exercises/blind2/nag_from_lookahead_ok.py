"""Student answer: NAG; the step is finished from the look-ahead point.

w - lr (mu v + d) = (w - lr mu v) - lr d = a - lr d.
"""


def nag_step(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    d = {k: g[k] + weight_decay * a[k] for k in w}
    w_next = {k: a[k] - lr * d[k] for k in w}
    v_next = {k: momentum * v[k] + d[k] for k in w}
    return w_next, v_next
