"""The second blind set of PyTorch and JAX/optax optimizers for ``minimsam crosscheck``.

Written without the cross-check kit's list of known mistakes; MANIFEST.json says which
ones are wrong and how, README.md how the set was made.
"""
