"""The Momentum-SAM paper's experiments at MNIST scale, one command each.

::

    python -m experiments.cosine       # cos(v_t, g_t) during SGD-momentum training (Fig. 2C)
    python -m experiments.rho_sweep    # MSAM test/train accuracy vs signed rho (Fig. 2A/B)
    python -m experiments.compare      # SGD, NAG, SAM, MSAM on MNIST-1D and Fashion-MNIST
    python -m experiments.sharpness    # sharpness and Hessian eigenvalues (Fig. 4, Tab. A.1)
    python -m experiments.ablation     # MSAM -> unnormalized -> lr-scaled -> NAG (Fig. A.1)
    python -m experiments.report       # results/*.md -> RESULTS.md and docs/results.md
    python -m experiments.all          # all of the above, in order
    python -m experiments.figures      # the figures of figures/ (see its --help)

Each writes ``experiments/results/<name>.json``, ``.png`` and ``.md``; ``--quick`` runs a
tiny smoke version (used by the tests) and ``--out DIR`` writes elsewhere.

Importing this package sets ``OPENBLAS_NUM_THREADS=1`` (unless already set) before NumPy
is imported by any experiment: the models are small, and one BLAS thread is much faster
than two on the 2-core machine the experiments were sized for.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
