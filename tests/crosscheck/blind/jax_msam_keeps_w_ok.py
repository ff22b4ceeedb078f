"""Momentum-SAM as an optax transformation that keeps the unperturbed weights in its state.

params hold the perturbed point (where the model is evaluated); state.w holds w itself,
so nothing is undone by subtraction and a rho schedule cannot drift.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class State(NamedTuple):
    count: jax.Array
    v: Any
    w: Any


class MSAMTransformation(NamedTuple):
    init: Any
    update: Any
    eval_params: Any


def msam(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    tmap = jax.tree_util.tree_map

    def init(params):
        return State(jnp.zeros((), jnp.int32), tmap(jnp.zeros_like, params), params)

    def update(grads, state, params):
        t = state.count
        d = tmap(lambda g, p: g + weight_decay * p, grads, params)  # decay at the point w~
        v = tmap(lambda b, di: momentum * b + di, state.v, d)
        w = tmap(lambda wi, b: wi - learning_rate(t) * b, state.w, v)
        c = rho(t + 1) / (optax.global_norm(v) + 1e-12)
        target = tmap(lambda wi, b: wi - c * b, w, v)
        return tmap(lambda a, b: a - b, target, params), State(t + 1, v, w)

    def eval_params(params, state):
        return state.w

    return MSAMTransformation(init, update, eval_params)
