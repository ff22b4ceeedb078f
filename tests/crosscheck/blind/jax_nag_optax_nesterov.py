"""NAG in optax: SGD with nesterov=True, L2 decay added to the gradient first."""

import optax


def nag(learning_rate, momentum=0.9, weight_decay=0.0):
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(learning_rate, momentum=momentum, nesterov=True),
    )
