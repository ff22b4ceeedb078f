"""Optax-style optimizers in JAX (fourth blind set, see README.md).

Factories are called as ``make(learning_rate=schedule, ...)`` with the case's constants.
The hand-written transformations return a NamedTuple with ``init`` and ``update`` and,
where they need it, ``calls_per_step`` and ``eval_params(params, state)``.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

EPS = 1e-12


class Transformation(NamedTuple):
    init: Callable
    update: Callable
    calls_per_step: int = 1
    eval_params: Any = None


def _map(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


def _norm(tree):
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree)))


# ---------------------------------------------------------------- SGD (optax chains)


def sgd_chain(learning_rate, momentum, weight_decay, nesterov=False):
    """Coupled decay, then the momentum trace, then the learning rate (torch.optim.SGD)."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.trace(decay=momentum, nesterov=nesterov),
        optax.scale_by_learning_rate(learning_rate),
    )


def sgd_chain_decay_last(learning_rate, momentum, weight_decay, nesterov=False):
    return optax.chain(
        optax.trace(decay=momentum, nesterov=nesterov),
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )


# ---------------------------------------------------------------- AdamW (optax)


def adamw_optax(learning_rate, betas, eps, weight_decay):
    return optax.adamw(learning_rate, b1=betas[0], b2=betas[1], eps=eps, weight_decay=weight_decay)


def adamw_optax_decay_times_lr(learning_rate, betas, eps, weight_decay):
    """Passes lr * weight_decay, as one would write the decay step of torch's AdamW."""
    decay = weight_decay * learning_rate(0)
    return optax.adamw(learning_rate, b1=betas[0], b2=betas[1], eps=eps, weight_decay=decay)


# ---------------------------------------------------------------- SAM, two update calls


class SAMState(NamedTuple):
    v: Any
    e: Any
    phase: jnp.ndarray  # 0: the next call climbs; 1: the next call descends
    count: jnp.ndarray  # steps done (one per two calls)


def _sam(learning_rate, momentum, weight_decay, rho, decay_at_perturbed=False, count_calls=False):
    def init(params):
        zeros = _map(jnp.zeros_like, params)
        return SAMState(zeros, zeros, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def update(grads, state, params):
        lr, r = learning_rate(state.count), rho(state.count)
        e_new = _map(lambda g: r * g / (_norm(grads) + EPS), grads)
        w = params if decay_at_perturbed else _map(lambda p, e: p - e, params, state.e)
        v_new = _map(lambda v, g, x: momentum * v + g + weight_decay * x, state.v, grads, w)
        descend = _map(lambda e, v: -e - lr * v, state.e, v_new)
        climbing = state.phase == 0
        updates = _map(lambda a, b: jnp.where(climbing, a, b), e_new, descend)
        v = _map(lambda a, b: jnp.where(climbing, a, b), state.v, v_new)
        e = _map(lambda a, b: jnp.where(climbing, a, b), e_new, state.e)
        step_done = 1 if count_calls else jnp.where(climbing, 0, 1)
        return updates, SAMState(v, e, 1 - state.phase, state.count + step_done)

    return Transformation(init, update, calls_per_step=2)


def sam_two_calls(learning_rate, momentum, weight_decay, rho):
    return _sam(learning_rate, momentum, weight_decay, rho)


def sam_two_calls_decay_perturbed(learning_rate, momentum, weight_decay, rho):
    return _sam(learning_rate, momentum, weight_decay, rho, decay_at_perturbed=True)


def sam_two_calls_count_calls(learning_rate, momentum, weight_decay, rho):
    """Counts update calls, not steps, for the schedules."""
    return _sam(learning_rate, momentum, weight_decay, rho, count_calls=True)


# ---------------------------------------------------------------- MSAM, memory-free


class MSAMState(NamedTuple):
    v: Any
    c: jnp.ndarray  # the scale of the perturbation the params hold: w~ = w - c v
    count: jnp.ndarray


def _msam(learning_rate, momentum, weight_decay, rho, rho_ahead=1):
    def init(params):
        return MSAMState(_map(jnp.zeros_like, params), jnp.zeros(()), jnp.zeros((), jnp.int32))

    def update(grads, state, params):
        lr = learning_rate(state.count)
        w = _map(lambda p, v: p + state.c * v, params, state.v)
        v_new = _map(lambda v, g, p: momentum * v + g + weight_decay * p, state.v, grads, params)
        w_new = _map(lambda x, v: x - lr * v, w, v_new)
        c_new = rho(state.count + rho_ahead) / (_norm(v_new) + EPS)
        target = _map(lambda x, v: x - c_new * v, w_new, v_new)
        updates = _map(lambda t, p: t - p, target, params)
        return updates, MSAMState(v_new, c_new, state.count + 1)

    def eval_params(params, state):
        return _map(lambda p, v: p + state.c * v, params, state.v)

    return Transformation(init, update, eval_params=eval_params)


def msam_memory_free(learning_rate, momentum, weight_decay, rho):
    return _msam(learning_rate, momentum, weight_decay, rho)


def msam_memory_free_rho_late(learning_rate, momentum, weight_decay, rho):
    """Places the next point with the rho of the step just done."""
    return _msam(learning_rate, momentum, weight_decay, rho, rho_ahead=0)


# ---------------------------------------------------------------- AdamW-MSAM, memory-free


class AdamWMSAMState(NamedTuple):
    m: Any
    s: Any
    c: Any  # a scalar, or one per leaf
    count: jnp.ndarray


def _adamw_msam(learning_rate, betas, eps, weight_decay, rho, per_leaf=False):
    b1, b2 = betas

    def init(params):
        zeros = _map(jnp.zeros_like, params)
        c = _map(lambda p: jnp.zeros(()), params) if per_leaf else jnp.zeros(())
        return AdamWMSAMState(zeros, zeros, c, jnp.zeros((), jnp.int32))

    def scales(state_c, params):
        return state_c if per_leaf else _map(lambda p: state_c, params)

    def update(grads, state, params):
        lr, k = learning_rate(state.count), state.count + 1
        c = scales(state.c, params)
        w = _map(lambda p, ci, m: p + ci * m, params, c, state.m)
        m = _map(lambda m, g: b1 * m + (1 - b1) * g, state.m, grads)
        s = _map(lambda s, g: b2 * s + (1 - b2) * g * g, state.s, grads)
        bc1, bc2 = 1 - b1**k, jnp.sqrt(1 - b2**k)
        w_adam = _map(lambda x, m, s: x - lr / bc1 * m / (jnp.sqrt(s) / bc2 + eps), w, m, s)
        w_new = _map(lambda x: x * (1 - lr * weight_decay), w_adam)
        r = rho(state.count + 1)
        if per_leaf:
            c_new = _map(lambda mi: r / (jnp.sqrt(jnp.sum(mi * mi)) + EPS), m)
        else:
            c_new = r / (_norm(m) + EPS)
        target = _map(lambda x, ci, mi: x - ci * mi, w_new, scales(c_new, params), m)
        updates = _map(lambda t, p: t - p, target, params)
        return updates, AdamWMSAMState(m, s, c_new, state.count + 1)

    def eval_params(params, state):
        return _map(lambda p, ci, m: p + ci * m, params, scales(state.c, params), state.m)

    return Transformation(init, update, eval_params=eval_params)


def adamw_msam_memory_free(learning_rate, betas, eps, weight_decay, rho):
    return _adamw_msam(learning_rate, betas, eps, weight_decay, rho)


def adamw_msam_per_leaf_norm(learning_rate, betas, eps, weight_decay, rho):
    return _adamw_msam(learning_rate, betas, eps, weight_decay, rho, per_leaf=True)
