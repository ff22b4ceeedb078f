"""Blind set 5: PyTorch and JAX/optax optimizers, some correct and some broken.

Written without the project's pitfall list; MANIFEST.json says which is which and
README.md how the set was written and what the cross-check kit said about it.
"""
