"""SGD and NAG from optax building blocks. The kit calls
``factory(learning_rate=schedule, momentum=..., weight_decay=..., [nesterov=...])``."""

import optax


def sgd_decay_after_momentum(learning_rate, momentum, weight_decay, nesterov=False):
    """Broken: ``add_decayed_weights`` placed after ``trace``, so the decay bypasses the
    momentum buffer (``w <- w - lr (v + lam w)`` with ``v`` built from gradients only)."""
    return optax.chain(
        optax.trace(decay=momentum, nesterov=nesterov),
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )


def sgd_from_parts(learning_rate, momentum, weight_decay, nesterov=False):
    """Correct, written unusually: torch's SGD as a chain of optax parts
    (decay into the gradient, then the trace, then ``-lr``)."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.trace(decay=momentum, nesterov=nesterov),
        optax.scale_by_learning_rate(learning_rate),
    )


def nag_as_optax_nesterov(learning_rate, momentum, weight_decay):
    """Broken: ``optax.sgd(nesterov=True)`` taken for the look-ahead NAG. It is the same
    algorithm in other coordinates: its params are the look-ahead point, not ``w_t``."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(learning_rate, momentum=momentum, nesterov=True),
    )
