"""Wrong steps the localiser must place at the right equation without a name for them:
each is ``(exercise, step function, equation symbol, words the finding must contain)``.
They are the unnamed ones of issue 21's reader study, written out."""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def _norm(tree):
    return np.sqrt(sum(np.sum(x * x) for x in tree.values()))


def msam_update_from_perturbed_point(w, v, grad_fn, lr, momentum, rho, weight_decay):
    c = rho / (_norm(v) + EPS)
    wp = {k: w[k] - c * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: wp[k] - lr * v_next[k] for k in w}, v_next  # from wp, not w


def msam_squared_norm(w, v, grad_fn, lr, momentum, rho, weight_decay):
    c = rho / (_norm(v) ** 2 + EPS)  # ||v||^2
    wp = {k: w[k] - c * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def msam_unnormalised(w, v, grad_fn, lr, momentum, rho, weight_decay):
    wp = {k: w[k] - rho * v[k] for k in w}  # no normalisation
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def msam_swapped_outputs(w, v, grad_fn, lr, momentum, rho, weight_decay):
    c = rho / (_norm(v) + EPS)
    wp = {k: w[k] - c * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return v_next, {k: w[k] - lr * v_next[k] for k in w}  # (v, w), not (w, v)


def sam_decay_in_ascent(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = {k: x + weight_decay * w[k] for k, x in grad_fn(w).items()}  # decay in the ascent
    c = rho / (_norm(g1) + EPS)
    g2 = grad_fn({k: w[k] + c * g1[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def sam_not_undone(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    c = rho / (_norm(g1) + EPS)
    wp = {k: w[k] + c * g1[k] for k in w}
    g2 = grad_fn(wp)
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    return {k: wp[k] - lr * v_next[k] for k in w}, v_next  # the perturbation stays


def nag_lookahead_sign(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] + lr * momentum * v[k] for k in w}  # + instead of -
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def nag_lookahead_without_lr(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - momentum * v[k] for k in w}  # no lr
    g = grad_fn(a)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def sgd_dampening(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + (1 - momentum) * (g[k] + weight_decay * w[k]) for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def sgd_lr_in_velocity(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + lr * (g[k] + weight_decay * w[k]) for k in w}
    return {k: w[k] - v_next[k] for k in w}, v_next


MISTAKES = [
    ("msam", msam_update_from_perturbed_point, "w_{t+1}", "w~_t stands where the equation has w_t"),
    ("msam", msam_squared_norm, "w~_t", "rho/||v_t||^2"),
    ("msam", msam_unnormalised, "w~_t", "the division by the norm is missing"),
    ("msam", msam_swapped_outputs, "v_{t+1}", "swapped"),
    ("sam", sam_decay_in_ascent, "w_t + e_t", "lam"),
    ("sam", sam_not_undone, "w_{t+1}", "w_t + e_t stands where the equation has w_t"),
    ("nag", nag_lookahead_sign, "a_t", "the sign of the v_t term is flipped"),
    ("nag", nag_lookahead_without_lr, "a_t", "multiplied by -mu where the equation has -lr mu"),
    ("sgd-momentum", sgd_dampening, "v_{t+1}", "(1 - mu)"),
    ("sgd-momentum", sgd_lr_in_velocity, "v_{t+1}", "lr"),
]  # fmt: skip
