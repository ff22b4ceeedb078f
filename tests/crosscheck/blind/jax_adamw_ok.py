"""AdamW in optax with the PyTorch hyperparameter names (optax's decoupled decay
-lr (adam + lam w) equals torch's w (1 - lr lam) - lr adam)."""

import optax


def adamw(learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    b1, b2 = betas
    return optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
