"""Drive ``optax.contrib.sam`` through the golden SAM cases (as a user would write it).

The runner calls the factory with the case's hyperparameters, ``learning_rate`` and
``rho`` being schedules of the step count, and calls ``update`` twice per SAM step
(``calls_per_step=2``, the ``sync_period``)::

    minimsam crosscheck jax --optimizer sam --impl examples.optax_sam:make_sam --calls-per-step 2

The reference SAM (see docs/optimizers.md) is ``e = rho g / (||g|| + EPS)``, then SGD
with momentum on ``g(w + e) + lam w``. In optax that is an outer
``chain(add_decayed_weights(lam), sgd(lr, momentum))`` (``contrib.sam`` hands the
outer optimizer the unperturbed params, so the decay is taken at ``w``) and an
adversarial ``chain(contrib.normalize(), sgd(rho))`` (``contrib.sam`` negates its
update: an ascent step of length rho).
"""

import optax
from optax import contrib


def _sam(learning_rate, rho, momentum, weight_decay, reset_state):
    outer = optax.chain(
        optax.add_decayed_weights(weight_decay), optax.sgd(learning_rate, momentum=momentum)
    )
    adversarial = optax.chain(contrib.normalize(), optax.sgd(rho))
    return contrib.sam(outer, adversarial, sync_period=2, reset_state=reset_state)


def make_sam(learning_rate, rho, momentum, weight_decay):
    """``reset_state=False``: the adversarial optimizer's step count advances once per
    SAM step, so a rho schedule is followed."""
    return _sam(learning_rate, rho, momentum, weight_decay, reset_state=False)


def make_sam_default(learning_rate, rho, momentum, weight_decay):
    """The default ``reset_state=True``: the adversarial state, and with it the rho
    schedule's step count, is re-initialised every step, so rho stays at ``rho[0]``."""
    return _sam(learning_rate, rho, momentum, weight_decay, reset_state=True)
