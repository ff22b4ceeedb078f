"""SGD with momentum and weight decay in optax."""

import optax


def sgd(learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    return optax.chain(
        optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov),
        optax.add_decayed_weights(weight_decay),
    )
