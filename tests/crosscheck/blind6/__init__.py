"""Blind set 6: broken and correct PyTorch and JAX/optax optimizers (see README.md)."""
