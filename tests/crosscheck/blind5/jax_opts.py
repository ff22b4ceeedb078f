"""JAX/optax optimizers: optax chains and hand-written gradient transformations.

Each factory takes the keywords ``minimsam crosscheck jax`` passes (``learning_rate`` and
``rho`` as schedules ``count -> value``, the case's constants). Hand-written ones return
:class:`Tx`: optax's ``(init, update)`` plus ``eval_params`` and ``calls_per_step``.
Correct: ``sgd_chain``, ``nag_params_at_lookahead``, ``sam_two_calls``,
``msam_memory_free``, ``adamw_optax``, ``adamw_msam_memory_free``.
The others each carry one mistake (MANIFEST.json).
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

EPS = 1e-12


class Tx(NamedTuple):
    init: Callable
    update: Callable
    eval_params: Callable
    calls_per_step: int = 1


def _at(value, count):
    """A number, or a schedule evaluated at ``count``."""
    return value(count) if callable(value) else value


def _same(params, state):
    return params


def _zeros(tree):
    return jax.tree_util.tree_map(jnp.zeros_like, tree)


# ---------------------------------------------------------------- SGD


def sgd_chain(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """torch.optim.SGD as an optax chain: coupled decay first, then momentum and lr."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov),
    )


def sgd_decay_last(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """The decay transform placed after sgd, so wd w is added outside lr and momentum."""
    return optax.chain(
        optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov),
        optax.add_decayed_weights(weight_decay),
    )


class VelocityState(NamedTuple):
    count: jax.Array
    velocity: dict


def sgd_nesterov_stale(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """Hand-written SGD whose Nesterov branch uses the buffer from before this step."""

    def init(params):
        return VelocityState(jnp.zeros([], jnp.int32), _zeros(params))

    def update(grads, state, params):
        lr = _at(learning_rate, state.count)
        d = jax.tree_util.tree_map(lambda g, w: g + weight_decay * w, grads, params)
        v_new = jax.tree_util.tree_map(lambda v, x: momentum * v + x, state.velocity, d)
        if nesterov:
            direction = jax.tree_util.tree_map(lambda x, v: x + momentum * v, d, state.velocity)
        else:
            direction = v_new
        updates = jax.tree_util.tree_map(lambda x: -lr * x, direction)
        return updates, VelocityState(state.count + 1, v_new)

    return Tx(init, update, _same)


# ---------------------------------------------------------------- NAG


class ShiftState(NamedTuple):
    count: jax.Array
    velocity: dict
    shift: jax.Array  # s_t: the params hold a_t = w_t - s_t v_t


def _nag(learning_rate, momentum, weight_decay, lr_ahead):
    tmap = jax.tree_util.tree_map

    def init(params):
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        return ShiftState(jnp.zeros([], jnp.int32), _zeros(params), jnp.zeros([], dtype))

    def update(grads, state, params):
        t, s, v = state.count, state.shift, state.velocity
        w = tmap(lambda a, x: a + s * x, params, v)
        d = tmap(lambda g, a: g + weight_decay * a, grads, params)
        v_new = tmap(lambda x, y: momentum * x + y, v, d)
        w_next = tmap(lambda x, y: x - _at(learning_rate, t) * y, w, v_new)
        s_next = _at(learning_rate, t + 1 if lr_ahead else t) * momentum
        target = tmap(lambda x, y: x - s_next * y, w_next, v_new)
        updates = tmap(jnp.subtract, target, params)
        return updates, ShiftState(t + 1, v_new, jnp.asarray(s_next, state.shift.dtype))

    def eval_params(params, state):
        return tmap(lambda a, x: a + state.shift * x, params, state.velocity)

    return Tx(init, update, eval_params)


def nag_params_at_lookahead(learning_rate, momentum=0.9, weight_decay=0.0):
    """NAG whose params hold the look-ahead a_t = w_t - lr_t mu v_t, where the gradient is
    taken; d = g(a) + wd a; v = mu v + d; w -= lr v; ``eval_params`` gives w."""
    return _nag(learning_rate, momentum, weight_decay, True)


def nag_lookahead_lr_now(learning_rate, momentum=0.9, weight_decay=0.0):
    """Places the next look-ahead with this step's lr_t instead of lr_{t+1}."""
    return _nag(learning_rate, momentum, weight_decay, False)


# ---------------------------------------------------------------- SAM


class SAMState(NamedTuple):
    count: jax.Array  # optimizer steps done
    ascending: jax.Array  # True: the next call gets g(w) and moves to w + e
    velocity: dict
    origin: dict  # w, kept while the params sit at w + e


def _global_norm(tree):
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree)))


def _sam(learning_rate, momentum, rho, weight_decay, ascent):
    def init(params):
        return SAMState(jnp.zeros([], jnp.int32), jnp.array(True), _zeros(params), params)

    def update(grads, state, params):
        lr, r = _at(learning_rate, state.count), _at(rho, state.count)
        e = ascent(grads, r)
        d = jax.tree_util.tree_map(lambda g, w: g + weight_decay * w, grads, state.origin)
        v_new = jax.tree_util.tree_map(lambda v, x: momentum * v + x, state.velocity, d)
        w_next = jax.tree_util.tree_map(lambda w, v: w - lr * v, state.origin, v_new)
        up = state.ascending

        def pick(a, b):
            return jax.tree_util.tree_map(lambda x, y: jnp.where(up, x, y), a, b)

        updates = pick(e, jax.tree_util.tree_map(jnp.subtract, w_next, params))
        new_state = SAMState(
            jnp.where(up, state.count, state.count + 1),
            jnp.logical_not(up),
            pick(state.velocity, v_new),
            pick(params, state.origin),
        )
        return updates, new_state

    return Tx(init, update, _same, calls_per_step=2)


def sam_two_calls(learning_rate, momentum=0.9, rho=0.05, weight_decay=0.0):
    """SAM in two update calls (as optax.contrib.sam): first to w + e, then to w_{t+1}.

    e = rho g/(||g|| + EPS); d = g(w + e) + wd w; v = mu v + d; w_{t+1} = w - lr v.
    """

    def ascent(grads, r):
        norm = _global_norm(grads)
        return jax.tree_util.tree_map(lambda g: r * g / (norm + EPS), grads)

    return _sam(learning_rate, momentum, rho, weight_decay, ascent)


def sam_leaf_norm(learning_rate, momentum=0.9, rho=0.05, weight_decay=0.0):
    """SAM whose ascent normalises every leaf by its own norm."""

    def ascent(grads, r):
        return jax.tree_util.tree_map(lambda g: r * g / (jnp.linalg.norm(g) + EPS), grads)

    return _sam(learning_rate, momentum, rho, weight_decay, ascent)


# ---------------------------------------------------------------- MSAM (memory-free)


class MSAMState(NamedTuple):
    count: jax.Array
    velocity: dict
    scale: jax.Array  # c_t, the scale that placed the params at w~_t = w_t - c_t v_t


def _msam(learning_rate, momentum, rho, weight_decay, decay_at_perturbed, rho_ahead):
    tmap = jax.tree_util.tree_map

    def init(params):
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        return MSAMState(jnp.zeros([], jnp.int32), _zeros(params), jnp.zeros([], dtype))

    def update(grads, state, params):
        t, c, v = state.count, state.scale, state.velocity
        w = tmap(lambda p, x: p + c * x, params, v)
        decay_at = params if decay_at_perturbed else w
        d = tmap(lambda g, x: g + weight_decay * x, grads, decay_at)
        v_new = tmap(lambda x, y: momentum * x + y, v, d)
        w_next = tmap(lambda x, y: x - _at(learning_rate, t) * y, w, v_new)
        c_next = _at(rho, t + 1 if rho_ahead else t) / (_global_norm(v_new) + EPS)
        target = tmap(lambda x, y: x - c_next * y, w_next, v_new)
        updates = tmap(jnp.subtract, target, params)
        return updates, MSAMState(t + 1, v_new, c_next.astype(state.scale.dtype))

    def eval_params(params, state):
        return tmap(lambda p, x: p + state.scale * x, params, state.velocity)

    return Tx(init, update, eval_params)


def msam_memory_free(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    """The paper's Algorithm 1: params hold w~_t; d = g(w~) + wd w~; w = w~ + c v;
    v = mu v + d; w -= lr v; c = rho_{t+1}/(||v|| + EPS); w~ = w - c v."""
    return _msam(learning_rate, momentum, rho, weight_decay, True, True)


def msam_rho_now(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    """Places the next perturbation with this step's rho instead of the next step's."""
    return _msam(learning_rate, momentum, rho, weight_decay, True, False)


def msam_decay_at_w(learning_rate, momentum=0.9, rho=0.3, weight_decay=0.0):
    """Adds the decay at the rebuilt unperturbed w instead of at the perturbed params."""
    return _msam(learning_rate, momentum, rho, weight_decay, False, True)


# ---------------------------------------------------------------- AdamW


def adamw_optax(learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """optax.adamw: -lr (adam + wd w), the same as torch's shrink-then-step."""
    b1, b2 = betas
    return optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)


class AdamState(NamedTuple):
    count: jax.Array
    m: dict
    s: dict


def adamw_lr_after_increment(learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """Hand-written AdamW that increments the count first and reads the schedule there."""
    b1, b2 = betas
    tmap = jax.tree_util.tree_map

    def init(params):
        return AdamState(jnp.zeros([], jnp.int32), _zeros(params), _zeros(params))

    def update(grads, state, params):
        k = state.count + 1
        lr = _at(learning_rate, k)
        m = tmap(lambda x, g: b1 * x + (1 - b1) * g, state.m, grads)
        s = tmap(lambda x, g: b2 * x + (1 - b2) * g * g, state.s, grads)
        c1, c2 = 1 - b1**k, 1 - b2**k

        def delta(w, mk, sk):
            decayed = w * (1 - lr * weight_decay)
            return decayed - lr / c1 * mk / (jnp.sqrt(sk) / jnp.sqrt(c2) + eps) - w

        return tmap(delta, params, m, s), AdamState(k, m, s)

    return Tx(init, update, _same)


# ---------------------------------------------------------------- AdamW-MSAM (memory-free)


class AdamWMSAMState(NamedTuple):
    count: jax.Array
    m: dict
    s: dict
    scale: jax.Array  # c_t: the params hold w~_t = w_t - c_t m_t


def _adamw_msam(learning_rate, betas, eps, weight_decay, rho, decay_at_perturbed):
    b1, b2 = betas
    tmap = jax.tree_util.tree_map

    def init(params):
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        zeros = _zeros(params)
        return AdamWMSAMState(jnp.zeros([], jnp.int32), zeros, zeros, jnp.zeros([], dtype))

    def update(grads, state, params):
        t, c = state.count, state.scale
        lr, k = _at(learning_rate, t), t + 1
        w = tmap(lambda p, x: p + c * x, params, state.m)
        m = tmap(lambda x, g: b1 * x + (1 - b1) * g, state.m, grads)
        s = tmap(lambda x, g: b2 * x + (1 - b2) * g * g, state.s, grads)
        c1, c2 = 1 - b1**k, 1 - b2**k
        adam = tmap(lambda x, mk, sk: x - lr / c1 * mk / (jnp.sqrt(sk / c2) + eps), w, m, s)
        decay_from = params if decay_at_perturbed else adam
        w_next = tmap(lambda a, x: a - lr * weight_decay * x, adam, decay_from)
        c_next = _at(rho, t + 1) / (_global_norm(m) + EPS)
        target = tmap(lambda x, y: x - c_next * y, w_next, m)
        updates = tmap(jnp.subtract, target, params)
        return updates, AdamWMSAMState(k, m, s, c_next.astype(state.scale.dtype))

    def eval_params(params, state):
        return tmap(lambda p, x: p + state.scale * x, params, state.m)

    return Tx(init, update, eval_params)


def adamw_msam_memory_free(learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0):
    """Params hold w~_t = w_t - c_t m_t; the Adam step from w = w~ + c m with the gradient
    at w~; then w_next = w' (1 - lr wd) and the next c = rho_{t+1}/(||m|| + EPS)."""
    return _adamw_msam(learning_rate, betas, eps, weight_decay, rho, False)


def adamw_msam_decay_perturbed(
    learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0
):
    """Shrinks by lr wd times the perturbed params (what the model holds) instead of w'."""
    return _adamw_msam(learning_rate, betas, eps, weight_decay, rho, True)
