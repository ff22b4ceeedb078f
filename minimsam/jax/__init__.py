"""SAM, MSAM and AdamW-MSAM as optax-style gradient transformations (JAX).

The equations are those of ``minimsam.optim`` (see docs/optimizers.md); the code is
written for ``jax.jit``. Each function returns a :class:`Transformation`: ``init`` and
``update`` as in optax (so ``optax.apply_updates`` and ``optax.chain`` take it), plus

- ``eval_params(params, state)``: the unperturbed weights. MSAM and AdamW-MSAM keep
  the perturbed point in the params (the memory-free form: the model is evaluated
  where the gradient is needed, one gradient per step); evaluate or save the model
  at ``eval_params(params, state)``.
- ``calls_per_step``: how many ``update`` calls make one optimizer step. SAM needs two
  gradients per step: the first call moves the params to ``w + e``, the second,
  given the gradient there, to ``w_{t+1}``.

``learning_rate`` and ``rho`` are numbers or schedules ``step -> value`` (called
with the optimizer's step count, a traced integer under ``jit``)::

    import optax
    from minimsam import jax as mjax

    tx = mjax.msam(learning_rate=0.1, momentum=0.9, rho=0.3, weight_decay=5e-4)
    state = tx.init(params)
    for batch in batches:
        grads = jax.grad(loss)(params, batch)             # at the perturbed point
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    weights = tx.eval_params(params, state)              # for evaluation

Requires ``jax`` (``pip install minimsam[jax]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

try:
    import jax
    import jax.numpy as jnp
except ModuleNotFoundError as err:
    if err.name not in ("jax", "jax.numpy", "jaxlib"):
        raise  # JAX is there but broken: its own error says more
    raise ModuleNotFoundError(
        'minimsam.jax needs JAX, which is not installed: pip install "minimsam[jax]"',
        name="jax",
    ) from None

__all__ = ["EPS", "Transformation", "adamw_msam", "msam", "sam"]

EPS = 1e-12  # as minimsam.optim: u = v / (||v|| + EPS), finite at v = 0


class Transformation(NamedTuple):
    """An optax-compatible ``(init, update)`` with the unperturbed params and the calls
    per optimizer step (see the module docstring)."""

    init: Callable
    update: Callable
    eval_params: Callable
    calls_per_step: int = 1


def _value(schedule: Any, count) -> Any:
    """A hyperparameter at step ``count``: a number, or a schedule called with it."""
    return schedule(count) if callable(schedule) else schedule


def _norm(tree) -> jax.Array:
    """The global L2 norm over all leaves."""
    return jnp.sqrt(sum(jnp.vdot(x, x) for x in jax.tree_util.tree_leaves(tree)))


def _map(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


def _zeros(params):
    return _map(jnp.zeros_like, params)


def _scalar_like(params) -> jax.Array:
    return jnp.zeros((), dtype=jax.tree_util.tree_leaves(params)[0].dtype)


def _identity(params, state):
    return params


# ----------------------------------------------------------------------------- SAM


class SAMState(NamedTuple):
    count: jax.Array  # completed optimizer steps t
    ascent: jax.Array  # True: the next call is the first of a step (at w)
    momentum: Any  # v_t
    cache: Any  # w_t, kept while the params hold w_t + e_t


def sam(learning_rate, momentum: float = 0.9, rho=0.05, weight_decay: float = 0.0):
    """SAM with SGD momentum, two ``update`` calls per step::

    call 1, given g(w_t):      e_t = rho g / (||g|| + EPS);  params -> w_t + e_t
    call 2, given g(w_t + e_t): d = g + lam w_t;  v_{t+1} = mu v_t + d
                               params -> w_{t+1} = w_t - eta v_{t+1}
    """

    def init(params):
        return SAMState(jnp.zeros((), jnp.int32), jnp.array(True), _zeros(params), params)

    def ascend(grads, state, params):
        scale = _value(rho, state.count) / (_norm(grads) + EPS)
        updates = _map(lambda g: scale * g, grads)  # e_t
        return updates, state._replace(ascent=jnp.array(False), cache=params)

    def descend(grads, state, params):
        lr, w = _value(learning_rate, state.count), state.cache
        v = _map(lambda vi, g, wi: momentum * vi + g + weight_decay * wi, state.momentum, grads, w)
        w_next = _map(lambda wi, vi: wi - lr * vi, w, v)
        updates = _map(lambda a, b: a - b, w_next, params)
        return updates, SAMState(state.count + 1, jnp.array(True), v, w)

    def update(grads, state, params):
        return jax.lax.cond(state.ascent, ascend, descend, grads, state, params)

    return Transformation(init, update, _identity, calls_per_step=2)


# ----------------------------------------------------------------------------- MSAM


class MSAMState(NamedTuple):
    count: jax.Array  # t
    momentum: Any  # v_t
    scale: jax.Array  # rho_t / (||v_t|| + EPS), the perturbation the params hold


def msam(learning_rate, momentum: float = 0.9, rho=0.3, weight_decay: float = 0.0):
    """Momentum-SAM; the params hold ``wp_t = w_t - scale_t v_t`` (memory-free form)::

        given g(wp_t):  d = g + lam wp_t;  w_t = wp_t + scale_t v_t
                        v_{t+1} = mu v_t + d;  w_{t+1} = w_t - eta v_{t+1}
                        scale_{t+1} = rho_{t+1} / (||v_{t+1}|| + EPS)
                        params -> wp_{t+1} = w_{t+1} - scale_{t+1} v_{t+1}

    ``v_0 = 0``: the initial params are ``w_0``, unperturbed. The perturbation is undone
    with the scale that made it, so a rho schedule does not drift.
    """

    def init(params):
        return MSAMState(jnp.zeros((), jnp.int32), _zeros(params), _scalar_like(params))

    def update(grads, state, params):
        t, v, scale = state.count, state.momentum, state.scale
        lr = _value(learning_rate, t)
        d = _map(lambda g, wp: g + weight_decay * wp, grads, params)
        w = _map(lambda wp, vi: wp + scale * vi, params, v)
        v_next = _map(lambda vi, di: momentum * vi + di, v, d)
        w_next = _map(lambda wi, vi: wi - lr * vi, w, v_next)
        scale_next = _value(rho, t + 1) / (_norm(v_next) + EPS)
        wp_next = _map(lambda wi, vi: wi - scale_next * vi, w_next, v_next)
        updates = _map(lambda a, b: a - b, wp_next, params)
        return updates, MSAMState(t + 1, v_next, jnp.asarray(scale_next, scale.dtype))

    def eval_params(params, state):
        return _map(lambda wp, vi: wp + state.scale * vi, params, state.momentum)

    return Transformation(init, update, eval_params)


# ----------------------------------------------------------------------------- AdamW-MSAM


class AdamWMSAMState(NamedTuple):
    count: jax.Array  # t
    m: Any
    s: Any
    scale: jax.Array  # rho_t / (||m_t|| + EPS)


def adamw_msam(
    learning_rate, betas=(0.9, 0.999), eps: float = 1e-8, rho=0.3, weight_decay: float = 0.0
):
    """AdamW-MSAM; the params hold ``wp_t = w_t - scale_t m_t``::

    given g(wp_t):  m, s = Adam moments with g;  w_t = wp_t + scale_t m_t
                    w_{t+1} = (Adam step from w_t, k = t + 1) * (1 - eta lam)   (decay last)
                    params -> wp_{t+1} = w_{t+1} - rho_{t+1} m / (||m|| + EPS)
    """
    b1, b2 = betas

    def init(params):
        zeros = _zeros(params)
        return AdamWMSAMState(jnp.zeros((), jnp.int32), zeros, zeros, _scalar_like(params))

    def update(grads, state, params):
        t, lr = state.count, _value(learning_rate, state.count)
        k = t + 1
        m = _map(lambda mi, g: b1 * mi + (1 - b1) * g, state.m, grads)
        s = _map(lambda si, g: b2 * si + (1 - b2) * g * g, state.s, grads)
        w = _map(lambda wp, mi: wp + state.scale * mi, params, state.m)
        step = lr / (1 - b1**k)
        bc2 = jnp.sqrt(1 - b2**k)
        w_adam = _map(lambda wi, mi, si: wi - step * mi / (jnp.sqrt(si) / bc2 + eps), w, m, s)
        w_next = _map(lambda wi: wi * (1 - lr * weight_decay), w_adam)
        scale_next = _value(rho, t + 1) / (_norm(m) + EPS)
        wp_next = _map(lambda wi, mi: wi - scale_next * mi, w_next, m)
        updates = _map(lambda a, b: a - b, wp_next, params)
        return updates, AdamWMSAMState(t + 1, m, s, jnp.asarray(scale_next, state.scale.dtype))

    def eval_params(params, state):
        return _map(lambda wp, mi: wp + state.scale * mi, params, state.m)

    return Transformation(init, update, eval_params)
