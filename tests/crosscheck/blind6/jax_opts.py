"""SGD, NAG, SAM, MSAM, AdamW and AdamW-MSAM as optax gradient transformations and chains.

Each function is a factory as ``minimsam crosscheck jax`` calls it
(``learning_rate`` and ``rho`` are schedules ``count -> value``). Blind set 6 (see
README.md): the factories named ``correct_*`` follow docs/optimizers.md; every other one
carries one realistic mistake, described in its docstring and in MANIFEST.json.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

EPS = 1e-12


class Transformation(NamedTuple):
    """optax's ``(init, update)`` plus the unperturbed weights and calls per step."""

    init: Callable
    update: Callable
    eval_params: Callable
    calls_per_step: int = 1


def _at(schedule, count):
    return schedule(count) if callable(schedule) else schedule


def _map(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


def _norm(tree):
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree)))


def _updates(new, old):
    return _map(lambda a, b: a - b, new, old)


# ----------------------------------------------------------------------------- SGD


def sgd_decay_after_trace(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """SGD as an optax chain with ``add_decayed_weights`` placed after ``trace``, so the
    L2 term bypasses the momentum buffer."""
    return optax.chain(
        optax.trace(decay=momentum, nesterov=nesterov),
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )


def correct_sgd_chain(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """Correct: L2 first, then optax's ``trace`` (torch-style Nesterov), then the rate."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.trace(decay=momentum, nesterov=nesterov),
        optax.scale_by_learning_rate(learning_rate),
    )


class CountTrace(NamedTuple):
    count: jax.Array
    trace: Any


def sgd_count_before_schedule(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """Hand-written SGD that increments its step count first and reads the learning-rate
    schedule with the new count, i.e. ``lr[t + 1]`` at step ``t``."""

    def init(params):
        return CountTrace(jnp.zeros((), jnp.int32), _map(jnp.zeros_like, params))

    def update(grads, state, params):
        count = state.count + 1
        lr = _at(learning_rate, count)
        d = _map(lambda g, w: g + weight_decay * w, grads, params)
        v = _map(lambda vi, di: momentum * vi + di, state.trace, d)
        direction = _map(lambda di, vi: di + momentum * vi, d, v) if nesterov else v
        if momentum == 0:
            direction = d
        return _map(lambda x: -lr * x, direction), CountTrace(count, v)

    return optax.GradientTransformation(init, update)


# ----------------------------------------------------------------------------- NAG


class NAGState(NamedTuple):
    count: jax.Array
    momentum: Any
    shift: jax.Array  # the c with params = w - c v


def _nag(learning_rate, momentum, weight_decay, next_shift_count: int):
    """NAG with the params at the look-ahead ``a_t = w_t - c_t v_t``, ``c_t = lr_t mu``;
    the shift for the next step reads the schedule at ``count + next_shift_count``."""

    def init(params):
        zero = jnp.zeros((), jax.tree_util.tree_leaves(params)[0].dtype)
        return NAGState(jnp.zeros((), jnp.int32), _map(jnp.zeros_like, params), zero)

    def update(grads, state, params):
        t, v, c = state.count, state.momentum, state.shift
        lr = _at(learning_rate, t)
        d = _map(lambda g, a: g + weight_decay * a, grads, params)
        w = _map(lambda a, vi: a + c * vi, params, v)
        v_next = _map(lambda vi, di: momentum * vi + di, v, d)
        w_next = _map(lambda wi, vi: wi - lr * vi, w, v_next)
        c_next = jnp.asarray(_at(learning_rate, t + next_shift_count) * momentum, c.dtype)
        a_next = _map(lambda wi, vi: wi - c_next * vi, w_next, v_next)
        return _updates(a_next, params), NAGState(t + 1, v_next, c_next)

    def eval_params(params, state):
        return _map(lambda a, vi: a + state.shift * vi, params, state.momentum)

    return Transformation(init, update, eval_params)


def correct_nag_lookahead_params(learning_rate, momentum=0.9, weight_decay=0.0):
    """Correct: NAG whose params hold the look-ahead point, shifted with the next step's
    learning rate and undone with the stored shift; ``eval_params`` gives ``w``."""
    return _nag(learning_rate, momentum, weight_decay, next_shift_count=1)


def nag_shift_with_current_lr(learning_rate, momentum=0.9, weight_decay=0.0):
    """NAG with the params at the look-ahead point that places the next look-ahead with
    the learning rate of the step just taken, ``lr_t mu v_{t+1}`` instead of
    ``lr_{t+1} mu v_{t+1}``."""
    return _nag(learning_rate, momentum, weight_decay, next_shift_count=0)


# ----------------------------------------------------------------------------- SAM


class SAMState(NamedTuple):
    count: jax.Array
    ascent: jax.Array
    momentum: Any
    w: Any


def sam_decay_at_perturbed(learning_rate, momentum=0.9, weight_decay=0.0, rho=0.05):
    """SAM in two ``update`` calls whose second call adds ``weight_decay * params``,
    i.e. the L2 term at ``w + e`` (the params it is handed), not at the cached ``w``."""

    def init(params):
        zeros = _map(jnp.zeros_like, params)
        return SAMState(jnp.zeros((), jnp.int32), jnp.array(True), zeros, params)

    def ascend(grads, state, params):
        scale = _at(rho, state.count) / (_norm(grads) + EPS)
        return _map(lambda g: scale * g, grads), state._replace(ascent=jnp.array(False), w=params)

    def descend(grads, state, params):
        lr = _at(learning_rate, state.count)
        v = _map(
            lambda vi, g, p: momentum * vi + g + weight_decay * p, state.momentum, grads, params
        )
        w_next = _map(lambda wi, vi: wi - lr * vi, state.w, v)
        return _updates(w_next, params), SAMState(state.count + 1, jnp.array(True), v, state.w)

    def update(grads, state, params):
        return jax.lax.cond(state.ascent, ascend, descend, grads, state, params)

    return Transformation(init, update, lambda params, state: params, calls_per_step=2)


# ----------------------------------------------------------------------------- MSAM


class MSAMState(NamedTuple):
    count: jax.Array
    momentum: Any
    scale: jax.Array


def _msam(learning_rate, momentum, weight_decay, rho, rho_count_offset: int):
    """Memory-free MSAM on one flat vector (``ravel_pytree``)."""

    def init(params):
        flat, _ = ravel_pytree(params)
        return MSAMState(jnp.zeros((), jnp.int32), jnp.zeros_like(flat), jnp.zeros((), flat.dtype))

    def update(grads, state, params):
        wp, unravel = ravel_pytree(params)
        g, _ = ravel_pytree(grads)
        t, v = state.count, state.momentum
        d = g + weight_decay * wp
        w = wp + state.scale * v
        v_next = momentum * v + d
        w_next = w - _at(learning_rate, t) * v_next
        scale = _at(rho, t + rho_count_offset) / (jnp.linalg.norm(v_next) + EPS)
        wp_next = w_next - scale * v_next
        new_state = MSAMState(t + 1, v_next, jnp.asarray(scale, wp.dtype))
        return unravel(wp_next - wp), new_state

    def eval_params(params, state):
        wp, unravel = ravel_pytree(params)
        return unravel(wp + state.scale * state.momentum)

    return Transformation(init, update, eval_params)


def correct_msam_flat(learning_rate, momentum=0.9, weight_decay=0.0, rho=0.3):
    """Correct: memory-free MSAM on a flat vector, next perturbation with ``rho_{t+1}``."""
    return _msam(learning_rate, momentum, weight_decay, rho, rho_count_offset=1)


def msam_rho_of_current_step(learning_rate, momentum=0.9, weight_decay=0.0, rho=0.3):
    """Memory-free MSAM that places the next perturbation with ``rho_t`` (the count of the
    step just taken) instead of ``rho_{t+1}``."""
    return _msam(learning_rate, momentum, weight_decay, rho, rho_count_offset=0)


# ----------------------------------------------------------------------------- AdamW


def adamw_decay_into_moments(learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """ "AdamW" as ``chain(add_decayed_weights, scale_by_adam, scale_by_learning_rate)``:
    the decay is added to the gradient before Adam (Adam with L2), not decoupled."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_adam(b1=betas[0], b2=betas[1], eps=eps),
        optax.scale_by_learning_rate(learning_rate),
    )


def correct_adamw_library(learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """Correct: ``optax.adamw``, which is ``w - lr (adam + lam w)`` = torch's AdamW."""
    return optax.adamw(learning_rate, b1=betas[0], b2=betas[1], eps=eps, weight_decay=weight_decay)


class AdamMSAMState(NamedTuple):
    count: jax.Array
    m: Any
    s: Any
    scale: jax.Array


def adamw_msam_undo_with_new_moment(
    learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0
):
    """Memory-free AdamW-MSAM that updates ``m`` first and then undoes the perturbation
    with the new moment, ``w = w~ + c_t m_{t+1}`` instead of ``c_t m_t``."""
    b1, b2 = betas

    def init(params):
        zeros = _map(jnp.zeros_like, params)
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        return AdamMSAMState(jnp.zeros((), jnp.int32), zeros, zeros, jnp.zeros((), dtype))

    def update(grads, state, params):
        t = state.count
        lr, k = _at(learning_rate, t), t + 1
        m = _map(lambda mi, g: b1 * mi + (1 - b1) * g, state.m, grads)
        s = _map(lambda si, g: b2 * si + (1 - b2) * g * g, state.s, grads)
        w = _map(lambda wp, mi: wp + state.scale * mi, params, m)
        corr1, corr2 = 1 - b1**k, jnp.sqrt(1 - b2**k)
        w_adam = _map(
            lambda wi, mi, si: wi - lr / corr1 * mi / (jnp.sqrt(si) / corr2 + eps), w, m, s
        )
        w_next = _map(lambda wi: wi * (1 - lr * weight_decay), w_adam)
        nm = _norm(m)
        scale = jnp.where(nm > 0, _at(rho, t + 1) / (nm + EPS), 0.0).astype(state.scale.dtype)
        wp_next = _map(lambda wi, mi: wi - scale * mi, w_next, m)
        return _updates(wp_next, params), AdamMSAMState(t + 1, m, s, scale)

    def eval_params(params, state):
        return _map(lambda wp, mi: wp + state.scale * mi, params, state.m)

    return Transformation(init, update, eval_params)
