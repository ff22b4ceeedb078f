"""Hand-written JAX/optax SGD, SAM and memory-free MSAM, with broken variants.

Factories are called as ``factory(learning_rate=schedule, momentum=..., weight_decay=...,
[nesterov=...], [rho=schedule])``. SAM is driven with two ``update`` calls per step
(ascent, then descent); MSAM keeps the perturbed point in the params and gives
``eval_params``.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

EPS = 1e-12


def _norm(tree):
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree)))


def _map(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


# ---------------------------------------------------------------- SGD (optax chain)


def sgd(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """Coupled decay, then the momentum trace, then -lr (torch.optim.SGD semantics)."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.trace(decay=momentum, nesterov=nesterov),
        optax.scale_by_learning_rate(learning_rate),
    )


def sgd_decay_after_trace(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """The decay added after the momentum trace, so it never enters the buffer."""
    return optax.chain(
        optax.trace(decay=momentum, nesterov=nesterov),
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )


def sgd_ignores_nesterov(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """Accepts ``nesterov`` but forgets to pass it on to the trace."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.trace(decay=momentum),
        optax.scale_by_learning_rate(learning_rate),
    )


# ---------------------------------------------------------------- SAM, two calls per step


class TwoCallTransformation(NamedTuple):
    init: Callable
    update: Callable
    calls_per_step: int = 2


class SAMState(NamedTuple):
    count: jnp.ndarray
    phase: jnp.ndarray
    momentum: dict
    ascent: dict


def _sam(learning_rate, momentum, rho, weight_decay, decay_at_perturbed, eps=EPS):
    def init(params):
        zeros = _map(jnp.zeros_like, params)
        return SAMState(jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32), zeros, zeros)

    def update(grads, state, params):
        # phase 0: params = w, grads = g(w): climb by e
        e = _map(lambda g: rho(state.count) * g / (_norm(grads) + eps), grads)
        # phase 1: params = w + e, grads = g(w + e): back to w, then the momentum step
        w = _map(lambda p, a: p - a, params, state.ascent)
        at = params if decay_at_perturbed else w
        v = _map(lambda b, g, x: momentum * b + g + weight_decay * x, state.momentum, grads, at)
        descent = _map(lambda a, b: -a - learning_rate(state.count) * b, state.ascent, v)
        first = state.phase == 0

        def pick(x, y):
            return _map(lambda a, b: jnp.where(first, a, b), x, y)

        zeros = _map(jnp.zeros_like, e)
        new = SAMState(
            jnp.where(first, state.count, state.count + 1),
            1 - state.phase,
            pick(state.momentum, v),
            pick(e, zeros),
        )
        return pick(e, descent), new

    return TwoCallTransformation(init, update)


def sam(learning_rate, momentum=0.9, rho=0.05, weight_decay=0.0):
    """SAM on SGD-momentum, decay at the unperturbed w."""
    return _sam(learning_rate, momentum, rho, weight_decay, decay_at_perturbed=False)


def sam_decay_at_perturbed(learning_rate, momentum=0.9, rho=0.05, weight_decay=0.0):
    """Takes the decay at the params of the second call, which hold w + e."""
    return _sam(learning_rate, momentum, rho, weight_decay, decay_at_perturbed=True)


def sam_without_eps(learning_rate, momentum=0.9, rho=0.05, weight_decay=0.0):
    """Normalises the ascent by ||g|| alone (no epsilon)."""
    return _sam(learning_rate, momentum, rho, weight_decay, decay_at_perturbed=False, eps=0.0)


# ---------------------------------------------------------------- MSAM, memory-free


class MemoryFreeTransformation(NamedTuple):
    init: Callable
    update: Callable
    eval_params: Callable


class MSAMState(NamedTuple):
    count: jnp.ndarray
    momentum: dict
    scale: dict  # one 0-d scale per leaf (all equal for the global norm)


def _msam(learning_rate, momentum, rho, weight_decay, scales, rho_ahead):
    def init(params):
        zeros = _map(jnp.zeros_like, params)
        return MSAMState(jnp.zeros([], jnp.int32), zeros, _map(lambda x: jnp.zeros([]), params))

    def undo(params, state):
        return _map(lambda p, c, b: p + c * b, params, state.scale, state.momentum)

    def update(grads, state, params):
        # params hold w~_t = w_t - c_t v_t
        w = undo(params, state)
        v = _map(lambda b, g, x: momentum * b + g + weight_decay * x, state.momentum, grads, params)
        w_next = _map(lambda x, b: x - learning_rate(state.count) * b, w, v)
        count = state.count + 1 if rho_ahead else state.count
        scale = scales(v, rho(count))
        perturbed = _map(lambda x, c, b: x - c * b, w_next, scale, v)
        updates = _map(lambda a, p: a - p, perturbed, params)
        return updates, MSAMState(state.count + 1, v, scale)

    return MemoryFreeTransformation(init, update, undo)


def _global_scales(v, r):
    c = r / (_norm(v) + EPS)
    return _map(lambda x: c, v)


def _per_leaf_scales(v, r):
    """Each array normalised by its own norm."""
    return _map(lambda x: r / (jnp.sqrt(jnp.sum(x * x)) + EPS), v)


def msam(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    """MSAM holding the perturbed point; the next step's rho placed one step ahead."""
    return _msam(learning_rate, momentum, rho, weight_decay, _global_scales, rho_ahead=True)


def msam_rho_one_step_late(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    """Places the next perturbation with this step's rho(t) instead of rho(t + 1)."""
    return _msam(learning_rate, momentum, rho, weight_decay, _global_scales, rho_ahead=False)


def msam_per_leaf_norm(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    """Normalises each parameter's momentum by its own norm, not the global one."""
    return _msam(learning_rate, momentum, rho, weight_decay, _per_leaf_scales, rho_ahead=True)


def sgd_composed(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """Correct: the coupled decay chained in front of optax.sgd."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov),
    )
