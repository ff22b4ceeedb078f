"""Momentum-SAM and AdamW-MSAM as optax-style transformations in the memory-free form:
the params hold the perturbed point. Those with an ``eval_params(params, state)`` field
give the kit the unperturbed weights; ``msam_perturbed_params`` gives none and is checked
with ``--form memory-free``."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

EPS = 1e-12
tmap = jax.tree_util.tree_map


class Transformation(NamedTuple):
    init: Any
    update: Any
    eval_params: Any


class MSAMState(NamedTuple):
    count: jax.Array
    momentum: Any
    scale: jax.Array  # the c_t that made the params' perturbation


def _value(x, count):
    return x(count) if callable(x) else x


def _norm(tree):
    return jnp.sqrt(sum(jnp.vdot(x, x) for x in jax.tree_util.tree_leaves(tree)))


def _msam_parts(learning_rate, momentum, rho, weight_decay, rho_lag=0, decay_after_undo=False):
    def init(params):
        zeros = tmap(jnp.zeros_like, params)
        return MSAMState(jnp.zeros([], jnp.int32), zeros, jnp.zeros([], jnp.float64))

    def update(grads, state, params):
        t = state.count
        w = tmap(lambda wp, v: wp + state.scale * v, params, state.momentum)
        at = w if decay_after_undo else params
        v = tmap(lambda vi, g, x: momentum * vi + g + weight_decay * x, state.momentum, grads, at)
        w_next = tmap(lambda wi, vi: wi - _value(learning_rate, t) * vi, w, v)
        scale = _value(rho, t + 1 - rho_lag) / (_norm(v) + EPS)
        wp_next = tmap(lambda wi, vi: wi - scale * vi, w_next, v)
        return tmap(lambda a, b: a - b, wp_next, params), MSAMState(t + 1, v, scale)

    def eval_params(params, state):
        return tmap(lambda wp, v: wp + state.scale * v, params, state.momentum)

    return init, update, eval_params


def msam_rho_of_this_step(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    """Broken: the next perturbation is placed with ``rho_t`` (the schedule at the step
    just taken) instead of ``rho_{t+1}``, the radius of the step it is for."""
    return Transformation(*_msam_parts(learning_rate, momentum, rho, weight_decay, rho_lag=1))


def msam_decay_after_undo(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    """Broken: the weight decay is added after undoing the perturbation, i.e. at ``w_t``."""
    parts = _msam_parts(learning_rate, momentum, rho, weight_decay, decay_after_undo=True)
    return Transformation(*parts)


def msam_perturbed_params(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    """Correct, memory-free: a plain ``optax.GradientTransformation`` (no way back to
    ``w``); the kit reads its params as the perturbed point (``--form memory-free``)."""
    init, update, _ = _msam_parts(learning_rate, momentum, rho, weight_decay)
    return optax.GradientTransformation(init, update)


class AdamState(NamedTuple):
    count: jax.Array
    m: Any
    s: Any
    scale: jax.Array


def _adamw_msam(learning_rate, betas, eps, rho, weight_decay, norm_eps=EPS, k_offset=1):
    b1, b2 = betas

    def init(params):
        zeros = tmap(jnp.zeros_like, params)
        return AdamState(jnp.zeros([], jnp.int32), zeros, zeros, jnp.zeros([], jnp.float64))

    def update(grads, state, params):
        t = state.count
        lr, k = _value(learning_rate, t), t + k_offset
        w = tmap(lambda wp, mi: wp + state.scale * mi, params, state.m)
        m = tmap(lambda mi, g: b1 * mi + (1 - b1) * g, state.m, grads)
        s = tmap(lambda si, g: b2 * si + (1 - b2) * jnp.square(g), state.s, grads)
        corr1, corr2 = 1 - b1**k, jnp.sqrt(1 - b2**k)
        w_next = tmap(
            lambda wi, mi, si: (wi - lr / corr1 * mi / (jnp.sqrt(si) / corr2 + eps))
            * (1 - lr * weight_decay),
            w, m, s,
        )  # fmt: skip
        scale = _value(rho, t + 1) / (_norm(m) + norm_eps)
        wp_next = tmap(lambda wi, mi: wi - scale * mi, w_next, m)
        return tmap(lambda a, b: a - b, wp_next, params), AdamState(t + 1, m, s, scale)

    def eval_params(params, state):
        return tmap(lambda wp, mi: wp + state.scale * mi, params, state.m)

    return Transformation(init, update, eval_params)


def adamw_msam_no_norm_eps(learning_rate, betas=(0.9, 0.999), eps=1e-8, rho=1.0, weight_decay=1e-2):
    """Broken: ``c = rho / ||m||`` without the epsilon (Adam's ``eps`` is there, the
    norm's is not): ``m_0 = 0`` gives ``0 / 0``."""
    return _adamw_msam(learning_rate, betas, eps, rho, weight_decay, norm_eps=0.0)


def adamw_msam_bias_at_count(
    learning_rate, betas=(0.9, 0.999), eps=1e-8, rho=1.0, weight_decay=1e-2
):
    """Broken: the bias corrections use the 0-based count ``k = t`` (optax's ``count``
    before the increment), so step 0 divides by ``1 - b1^0 = 0``."""
    return _adamw_msam(learning_rate, betas, eps, rho, weight_decay, k_offset=0)


def adamw_msam_memory_free(learning_rate, betas=(0.9, 0.999), eps=1e-8, rho=1.0, weight_decay=1e-2):
    """Correct: memory-free with ``eval_params`` (the kit reads the unperturbed weights)."""
    return _adamw_msam(learning_rate, betas, eps, rho, weight_decay)
