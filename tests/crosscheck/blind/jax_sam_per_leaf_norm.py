"""SAM (SGD momentum base) as an optax transformation, two update calls per step."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class SAMState(NamedTuple):
    count: jax.Array
    first: jax.Array
    momentum: Any
    w: Any


def sam(learning_rate, momentum=0.9, rho=0.05, weight_decay=0.0):
    tmap = jax.tree_util.tree_map

    def init(params):
        zeros = tmap(jnp.zeros_like, params)
        return SAMState(jnp.zeros((), jnp.int32), jnp.array(True), zeros, params)

    def ascent(grads, state, params):
        r = rho(state.count)
        e = tmap(lambda g: r * g / (jnp.linalg.norm(g) + 1e-12), grads)
        return e, state._replace(first=jnp.array(False), w=params)

    def descent(grads, state, params):
        lr = learning_rate(state.count)
        v = tmap(
            lambda b, g, w: momentum * b + g + weight_decay * w, state.momentum, grads, state.w
        )
        updates = tmap(lambda w, b, p: w - lr * b - p, state.w, v, params)
        return updates, SAMState(state.count + 1, jnp.array(True), v, state.w)

    def update(grads, state, params):
        return jax.lax.cond(state.first, ascent, descent, grads, state, params)

    return optax.GradientTransformation(init, update)  # run with --calls-per-step 2
