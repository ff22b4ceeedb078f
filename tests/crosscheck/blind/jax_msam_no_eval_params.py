"""Momentum-SAM as an optax GradientTransformation; params hold the perturbed point."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class MSAMState(NamedTuple):
    count: jax.Array
    momentum: Any
    scale: jax.Array


def msam(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    tmap = jax.tree_util.tree_map

    def norm(tree):
        return optax.global_norm(tree)

    def init(params):
        return MSAMState(jnp.zeros((), jnp.int32), tmap(jnp.zeros_like, params), jnp.zeros(()))

    def update(grads, state, params):
        t, v, c = state.count, state.momentum, state.scale
        d = tmap(lambda g, p: g + weight_decay * p, grads, params)
        w = tmap(lambda p, b: p + c * b, params, v)
        v_new = tmap(lambda b, di: momentum * b + di, v, d)
        w_new = tmap(lambda wi, b: wi - learning_rate(t) * b, w, v_new)
        c_new = rho(t + 1) / (norm(v_new) + 1e-12)
        p_new = tmap(lambda wi, b: wi - c_new * b, w_new, v_new)
        return tmap(lambda a, b: a - b, p_new, params), MSAMState(t + 1, v_new, c_new)

    return optax.GradientTransformation(init, update)
