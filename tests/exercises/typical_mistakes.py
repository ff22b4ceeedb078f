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


def sgd_in_float32(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    d = {k: (g[k] + weight_decay * w[k]).astype(np.float32) for k in w}
    v_next = {k: np.float32(momentum) * v[k].astype(np.float32) + d[k] for k in w}
    return {k: w[k].astype(np.float32) - np.float32(lr) * v_next[k] for k in w}, v_next


def nag_velocity_kept_in_float32(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)  # the step in float64; only the buffer it keeps is rounded
    v_next = {k: np.float32(momentum * v[k] + g[k] + weight_decay * a[k]) for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def msam_norm_in_float32(w, v, grad_fn, lr, momentum, rho, weight_decay):
    c = rho / (float(np.linalg.norm(np.concatenate([x.ravel() for x in v.values()]).astype(
        np.float32))) + EPS)  # fmt: skip
    return _msam_from(w, v, grad_fn, lr, momentum, weight_decay, c, v)


def msam_along_fresh_momentum(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)  # an extra call, to perturb along mu v + g(w), not v
    fresh = {k: momentum * v[k] + g[k] for k in w}
    return _msam_from(w, v, grad_fn, lr, momentum, weight_decay, rho / (_norm(fresh) + EPS),
                      fresh)  # fmt: skip


def _msam_from(w, v, grad_fn, lr, momentum, weight_decay, c, along):
    wp = {k: w[k] - c * along[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def sam_from_perturbed_point(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    w = {k: w[k] + rho / (_norm(g1) + EPS) * g1[k] for k in w}  # w + e from here on
    v_next = {k: momentum * v[k] + grad_fn(w)[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def _adamw_msam(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay, mistake=""):
    b1, b2 = betas
    c = rho / (_norm(m) + EPS)
    wp = {k: w[k] - c * m[k] for k in w}
    if mistake == "sign direction":  # along sign(m), scaled to length rho
        sign = {k: np.sign(m[k]) for k in w}
        wp = {k: w[k] - rho / (_norm(sign) + EPS) * sign[k] for k in w}
    if mistake == "along s":  # along the second moment, normalised: length rho
        wp = {k: w[k] - rho / (_norm(s) + EPS) * s[k] for k in w}
    if mistake == "scale times lr":  # c_t = lr rho / ||m_t||
        wp = {k: w[k] - lr * c * m[k] for k in w}
    g = grad_fn(wp)
    start = wp if mistake == "from perturbed" else w
    m_next = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
    s_next = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in w}
    step = {k: lr / (1 - b1 ** (t + 1)) * m_next[k]
            / (np.sqrt(s_next[k] / (1 - b2 ** (t + 1))) + eps) for k in w}  # fmt: skip
    if mistake == "decay beside":  # lr lam w subtracted beside the step, not a factor after it
        return {k: start[k] - step[k] - lr * weight_decay * w[k] for k in w}, m_next, s_next
    return {k: (start[k] - step[k]) * (1 - lr * weight_decay) for k in w}, m_next, s_next


def adamw_msam_from_perturbed_point(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    return _adamw_msam(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay, "from perturbed")


def adamw_msam_decay_beside(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    return _adamw_msam(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay, "decay beside")


def adamw_msam_along_sign(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    return _adamw_msam(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay, "sign direction")


def adamw_msam_along_second_moment(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    return _adamw_msam(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay, "along s")


def adamw_msam_scale_times_lr(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay):
    return _adamw_msam(w, m, s, grad_fn, t, lr, betas, eps, rho, weight_decay, "scale times lr")


def sam_decay_at_climbed_point(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    wp = {k: w[k] + rho / (_norm(g1) + EPS) * g1[k] for k in w}
    v_next = {k: momentum * v[k] + grad_fn(wp)[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next  # the update from w: undone


def msam_memory_free_not_undone(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)  # w is the perturbed point; the step goes on from it
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] - lr * v_next[k] for k in w}
    return {k: w_next[k] - rho / (_norm(v_next) + EPS) * v_next[k] for k in w}, v_next


def msam_memory_free_next_along_v(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g, c = grad_fn(w), rho / (_norm(v) + EPS)
    w = {k: w[k] + c * v[k] for k in w}  # undone right
    v_next = {k: momentum * v[k] + g[k] + weight_decay * (w[k] - c * v[k]) for k in w}
    return {k: w[k] - lr * v_next[k] - c * v[k] for k in w}, v_next  # next along v, not v_next


def msam_memory_free_undo_with_v_next(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)
    v = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}  # v_{t+1} first
    c = rho / (_norm(v) + EPS)
    w = {k: w[k] + c * v[k] - lr * v[k] for k in w}  # undone along v_{t+1}, not v_t
    return {k: w[k] - c * v[k] for k in w}, v


def msam_memory_free_next_left_out(w, v, grad_fn, lr, momentum, rho, weight_decay):
    c = rho / (_norm(v) + EPS)
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    return {k: w[k] + c * v[k] - lr * v_next[k] for k in w}, v_next  # undone, not perturbed


def msam_memory_free_perturbed_again(w, v, grad_fn, lr, momentum, rho, weight_decay):
    c = rho / (_norm(v) + EPS)
    wp = {k: w[k] - c * v[k] for k in w}  # w is w~_t already: perturbed a second time
    v_next = {k: momentum * v[k] + grad_fn(wp)[k] + weight_decay * wp[k] for k in w}
    w_next = {k: w[k] + c * v[k] - lr * v_next[k] for k in w}
    c_next = rho / (_norm(v_next) + EPS)
    return {k: w_next[k] - c_next * v_next[k] for k in w}, v_next


def msam_norm_per_row(w, v, grad_fn, lr, momentum, rho, weight_decay):
    n = {k: np.linalg.norm(v[k], axis=-1, keepdims=True) + EPS for k in w}  # per row
    wp = {k: w[k] - rho * v[k] / n[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def sam_sum_of_tensor_norms(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g1 = grad_fn(w)
    c = rho / (sum(np.linalg.norm(x) for x in g1.values()) + EPS)  # not the global norm
    g2 = grad_fn({k: w[k] + c * g1[k] for k in w})
    v_next = {k: momentum * v[k] + g2[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def msam_norm_with_hypot(w, v, grad_fn, lr, momentum, rho, weight_decay):
    c = rho / np.hypot(_norm(v), 1e-6)  # sqrt(||v||^2 + 1e-12): off below any tolerance
    wp = {k: w[k] - c * v[k] for k in w}
    g = grad_fn(wp)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def sgd_normalised_gradient(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)
    n = _norm(g) + EPS
    v_next = {k: momentum * v[k] + g[k] / n + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def nag_gradient_clipped_to_half(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(a)
    clip = min(1.0, 0.5 / (_norm(g) + EPS))
    v_next = {k: momentum * v[k] + clip * g[k] + weight_decay * a[k] for k in w}
    return {k: w[k] - lr * (momentum * v_next[k] + clip * g[k] + weight_decay * a[k])
            for k in w}, v_next  # fmt: skip


def msam_memory_free_next_uphill(w, v, grad_fn, lr, momentum, rho, weight_decay):
    c = rho / (_norm(v) + EPS)
    w = {k: w[k] + c * v[k] for k in w}  # undone right
    v_next = {k: momentum * v[k] + grad_fn({k: w[k] - c * v[k] for k in w})[k]
              + weight_decay * (w[k] - c * v[k]) for k in w}  # fmt: skip
    c_next = rho / (_norm(v_next) + EPS)
    return {k: w[k] - lr * v_next[k] + c_next * v_next[k] for k in w}, v_next  # + c v, not -


# (exercise, step, form, the equation of docs/optimizers.md, words): by the numbers alone
BY_THE_NUMBERS = [
    ("sgd-momentum", sgd_in_float32, "standard", "d_t", "single precision (float32)"),
    ("msam", msam_norm_in_float32, "standard", "u_t", "single precision (float32)"),
    ("nag", nag_velocity_kept_in_float32, "standard", "v_{t+1}", "it is kept in float32"),
    ("msam", msam_along_fresh_momentum, "standard", "u_t", "another direction"),
    ("sam", sam_from_perturbed_point, "standard", "w_{t+1}", "carries on from w_t + e_t"),
    ("adamw-msam", adamw_msam_from_perturbed_point, "standard", "w'_t", "w~_t stands where"),
    ("adamw-msam", adamw_msam_decay_beside, "standard", "w_{t+1}", ""),
    ("adamw-msam", adamw_msam_along_sign, "standard", "c_t", "another direction"),
    ("adamw-msam", adamw_msam_along_second_moment, "standard", "c_t", "another direction"),
    ("adamw-msam", adamw_msam_scale_times_lr, "standard", "c_t", "m_t is multiplied by -lr"),
    ("msam", msam_memory_free_not_undone, "memory-free", "w_t", "is not undone"),
    # the next two return w~_t - lr v_{t+1} on every step: one set of numbers, two readings
    ("msam", msam_memory_free_next_along_v, "memory-free", "w_t", "next perturbation along v_t"),
    ("msam", msam_memory_free_undo_with_v_next, "memory-free", "w_t", "made with v_{t+1} cancels"),
    ("msam", msam_memory_free_next_left_out, "memory-free", "c_{t+1}", "is not applied"),
    ("msam", msam_memory_free_perturbed_again, "memory-free", "w_t", "placed before is still"),
    ("msam", msam_memory_free_next_uphill, "memory-free", "w~_{t+1}", "applied with +"),
    ("msam", msam_norm_per_row, "standard", "u_t", "(unevenly), but its length is"),
    ("sam", sam_sum_of_tensor_norms, "standard", "e_t", "positive multiple of it (by one factor)"),
    ("msam", msam_norm_with_hypot, "standard", "u_t", "EPS elsewhere (inside the square"),
    ("sgd-momentum", sgd_normalised_gradient, "standard", "d_t", "g(w_t) is normalised"),
    ("nag", nag_gradient_clipped_to_half, "standard", "d_t", "g(a_t) multiplied by"),
]  # fmt: skip

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


def nag_gradient_at_w(w, v, grad_fn, lr, momentum, weight_decay):
    a = {k: w[k] - lr * momentum * v[k] for k in w}
    g = grad_fn(w)  # the look-ahead is made, the gradient not taken there
    v_next = {k: momentum * v[k] + g[k] + weight_decay * a[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def nag_heavy_ball(w, v, grad_fn, lr, momentum, weight_decay):
    g = grad_fn(w)  # no look-ahead at all: gradient and decay at w
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def msam_gradient_at_w(w, v, grad_fn, lr, momentum, rho, weight_decay):
    wp = {k: w[k] - rho / (_norm(v) + EPS) * v[k] for k in w}
    g = grad_fn(w)  # the perturbed point is made, the gradient not taken there
    v_next = {k: momentum * v[k] + g[k] + weight_decay * wp[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next


def msam_unperturbed(w, v, grad_fn, lr, momentum, rho, weight_decay):
    g = grad_fn(w)  # no perturbation at all: gradient and decay at w
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    return {k: w[k] - lr * v_next[k] for k in w}, v_next
