"""SAM as optax-style transformations driven with two ``update`` calls per step
(``--calls-per-step 2``): the first call is given ``g(w_t)`` and moves the params to
``w_t + e_t``, the second is given ``g(w_t + e_t)`` and moves them to ``w_{t+1}``."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

EPS = 1e-12


class SAMState(NamedTuple):
    calls: jax.Array  # update calls so far (two per step)
    count: jax.Array  # completed steps
    momentum: Any
    anchor: Any  # w_t while the params hold w_t + e_t


def _value(x, count):
    return x(count) if callable(x) else x


def _global_norm(tree):
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree)))


def _global_ascent(grads, rho):
    scale = rho / (_global_norm(grads) + EPS)
    return jax.tree_util.tree_map(lambda g: scale * g, grads)


def _per_leaf_ascent(grads, rho):
    return jax.tree_util.tree_map(lambda g: rho * g / (jnp.linalg.norm(g) + EPS), grads)


def _sam(learning_rate, momentum, rho, weight_decay, ascent, count_every_call=False):
    tmap = jax.tree_util.tree_map

    def init(params):
        zeros = tmap(jnp.zeros_like, params)
        return SAMState(jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32), zeros, params)

    def update(grads, state, params):
        first = state.calls % 2 == 0
        count = state.calls if count_every_call else state.count
        e = ascent(grads, _value(rho, count))
        w = tmap(lambda a, p: jnp.where(first, p, a), state.anchor, params)
        v_new = tmap(
            lambda v, g, wi: momentum * v + g + weight_decay * wi, state.momentum, grads, w
        )
        w_next = tmap(lambda wi, v: wi - _value(learning_rate, count) * v, w, v_new)
        down = tmap(lambda a, p: a - p, w_next, params)
        updates = tmap(lambda u, d: jnp.where(first, u, d), e, down)
        momentum_out = tmap(lambda old, new: jnp.where(first, old, new), state.momentum, v_new)
        new_state = SAMState(state.calls + 1, state.count + jnp.where(first, 0, 1), momentum_out, w)
        return updates, new_state

    return optax.GradientTransformation(init, update)


def sam_where(learning_rate, momentum=0.9, rho=0.05, weight_decay=0.0):
    """Correct, written unusually: both calls compute both branches and ``jnp.where``
    picks one (no ``lax.cond``); the step count advances on the second call."""
    return _sam(learning_rate, momentum, rho, weight_decay, _global_ascent)


def sam_per_leaf_norm(learning_rate, momentum=0.9, rho=0.05, weight_decay=0.0):
    """Broken: each leaf's gradient is normalised by its own norm."""
    return _sam(learning_rate, momentum, rho, weight_decay, _per_leaf_ascent)


def sam_schedule_by_calls(learning_rate, momentum=0.9, rho=0.05, weight_decay=0.0):
    """Broken: the schedules are read at the number of ``update`` calls, which is twice
    the step count (the usual optax ``count`` of a transformation called twice a step)."""
    return _sam(learning_rate, momentum, rho, weight_decay, _global_ascent, count_every_call=True)
