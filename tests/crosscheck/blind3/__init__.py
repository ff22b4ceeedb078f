"""Third blind set of PyTorch and JAX optimizers, broken and correct (see README.md)."""
